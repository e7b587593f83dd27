"""Evaluation: accuracy under an attack, batched over the test set or its first n images
(:func:`first_n`); transfer (examples crafted on a substitute, evaluated on targets); eps sweeps."""

from __future__ import annotations

import json

import torch

from .attacks import get_attack, run_attack
from .data import require_size
from .modelfile import load_model
from .models import output_classes
from .serialization import safe_load, save


def first_n(data: dict, n: int | None, key: str = "--n", split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` images of ``split`` of ``data`` (a :func:`e2sad.data.load_prepared` dict)
    and their labels; ``None``: all of them.  More than the split has is one line naming ``key``
    (:func:`e2sad.data.require_size`, e.g. ``--n: 50000 exceeds the 10000 test images of mnist``),
    never a silent cap."""
    require_size(data, split, n, key)
    return data[f"x_{split}"][:n], data[f"y_{split}"][:n]


def evaluation_images(
    data: dict, n: int | None, sample_seed: int | None = None, key: str = "--n"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The evaluation's test images: the first ``n`` (:func:`first_n`), or with ``sample_seed`` a
    random sample of ``n`` drawn without replacement by a generator seeded with it (the same
    images on every machine and for every model and attack), kept in test-set order."""
    if sample_seed is None or n is None:
        return first_n(data, n, key)
    require_size(data, "test", n, key)
    total = data["y_test"].shape[0]
    order = torch.randperm(total, generator=torch.Generator().manual_seed(sample_seed))[:n].sort().values
    order = order.to(data["y_test"].device)
    return data["x_test"][order], data["y_test"][order]


@torch.no_grad()
def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    correct = 0
    for i in range(0, x.shape[0], batch_size):
        correct += int((model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum())
    return correct / max(x.shape[0], 1)


def evaluate(model, x, y, attack: str, params: dict, batch_size: int = 500, x_adv=None) -> dict:
    """Accuracy of ``model`` on ``attack(x)``; returns a tidy row (without the model name), with the
    flags of the reference AutoAttack's checks (``aa_flags``, ``aa_messages``) when it is the attack.
    ``x_adv``: ``attack(x)`` already made (by :func:`craft`, the same batches): not attacked again."""
    get_attack(attack)
    notes = {}
    if x_adv is None:
        x_adv = run_attack(model, x, y, attack, params, batch_size, notes=notes)
    linf = float((x_adv - x).abs().amax()) if x.numel() else 0.0
    return {
        "attack": attack,
        "params": params,
        "n": int(x.shape[0]),
        "accuracy": accuracy(model, x_adv, y, batch_size),
        "max_linf": round(linf, 6),
        **notes,  # what the attack reports beside its examples (the reference AutoAttack's check flags)
    }


def craft(model, x, y, attack: str, params: dict, batch_size: int, out, *, substitute: str, attack_name=None) -> float:
    """Adversarial examples of ``attack`` on the substitute ``model``, saved to ``out`` with
    their labels for :func:`evaluate_transfer`; returns the substitute's own (white-box) accuracy."""
    x_adv = run_attack(model, x, y, attack, params, batch_size)
    acc = accuracy(model, x_adv, y, batch_size)
    blob = {
        "x_adv": x_adv.cpu(),
        "y": y.cpu(),
        "substitute": substitute,
        "attack": attack_name or attack,
        "params": json.dumps(params),
    }
    save(blob, out)
    return acc


def evaluate_transfer(
    model_path, adv_paths, network: str, normalization: str, device, batch_size: int, *, name: str, channels_last=False
):
    """Accuracy of the target model at ``model_path`` on each file written by :func:`craft`; the
    input shape is the examples', the classes the model file's (:func:`e2sad.models.output_classes`)."""
    rows, model = [], None
    for path in adv_paths:
        blob = safe_load(path, map_location=device)
        if model is None:
            shape = tuple(blob["x_adv"].shape[1:])
            classes = output_classes(safe_load(model_path, map_location="cpu"))
            model = load_model(
                model_path, network, normalization, shape, classes, device=device, channels_last=channels_last
            )
        rows.append(
            {
                "model": name,
                "substitute": blob["substitute"],
                "attack_name": blob["attack"],
                "params": json.loads(blob["params"]),
                "n": int(blob["y"].shape[0]),
                "accuracy": accuracy(model, blob["x_adv"], blob["y"], batch_size),
            }
        )
    return rows


#: hyperparameters of a sweep's iterative attacks that the sweep does not give
SWEEP_DEFAULTS = {"ifgsm": {"k": 20}, "pgd": {"k": 20, "restarts": 1, "seed": 0}}


def eps_sweep(model, x, y, attack: str, eps_list, fixed: dict, batch_size: int = 500) -> list[dict]:
    """Accuracy under ``attack`` at each eps of ``eps_list`` (0: the clean images); ``fixed``: its
    other hyperparameters (k, restarts, seed), defaults from :data:`SWEEP_DEFAULTS`."""
    _, allowed = get_attack(attack)
    base = {**SWEEP_DEFAULTS.get(attack, {}), **fixed}
    base = {k: v for k, v in base.items() if k in allowed}
    rows = []
    for eps in sorted(set(eps_list)):
        name, params = ("none", {}) if eps == 0 else (attack, {"eps": eps, **base})
        row = evaluate(model, x, y, name, params, batch_size)
        row.update(kind=attack, eps=eps)
        rows.append(row)
    return rows
