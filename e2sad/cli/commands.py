"""The subcommands of data, training, evaluation, loss surfaces and tables (the science products'
are :mod:`e2sad.cli.science_commands`); each parses, calls one library function and writes its
outputs with a provenance sidecar (:func:`~e2sad.cli.options.write_sidecars`).

Imports inside a command function are only those that keep torch and the other heavy libraries
(pandas, matplotlib) out of the start-up of a job that does not need them (``--help``, a table job).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

from ..data import load_prepared, prepare, source_digests, source_files
from ..errors import ConfigError
from ..provenance import write_json_atomic
from ..runtime import resolve_device
from .options import (
    ATTACK,
    DATA,
    EVAL,
    NET,
    RUN,
    TABLE_OUTS,
    allowed,
    command,
    declared,
    eps_value,
    label_smoothing,
    models,
    names,
    opt,
    positive_int,
    rows,
    schema,
    spec,
    unit_value,
    warmup_value,
    write_sidecars,
)

# ---- what the subcommands share


def _load_data(a, device, splits=None) -> dict:
    """The prepared file of ``--data``, checked to hold ``--dataset``."""
    data = load_prepared(a.data, device, **({"splits": splits} if splits else {}))
    if data["dataset"] != a.dataset:
        raise ConfigError(f"{a.data} holds {data['dataset']}, not {a.dataset}")
    return data


def _load_eval(a):
    """(model, first n test images, their labels) for an evaluation subcommand; an ``--n`` beyond
    the test set is one line (:func:`e2sad.evaluate.first_n`)."""
    from ..evaluate import evaluation_images
    from ..modelfile import load_model

    dev = resolve_device(a.device)
    data = _load_data(a, dev, splits=("test",))
    x, y = evaluation_images(data, a.n, getattr(a, "sample_seed", None))
    model = load_model(a.model, a.network, a.normalization, tuple(x.shape[1:]), data["classes"], dev, a.channels_last)
    return model, x, y


def _attack_params(a) -> dict:
    from ..attacks import ATTACKS

    return ATTACKS.from_cli(a.attack, a)


# ---- data and training


def _fields(record: type, a, **others) -> dict:
    """The fields of dataclass ``record``: ``others``, the rest from the options of the same name."""
    return {f.name: others[f.name] if f.name in others else getattr(a, f.name) for f in dataclasses.fields(record)}


@command(
    "prepare-data",
    "convert a dataset's files (idx, svhn_mat, npz) to one tensor file",
    opt("--dataset", required=True, help="the dataset's name (stored in the file)"),
    opt("--format", default="idx", choices=names("data", "FORMATS"), help="file format of --src"),
    opt("--src", required=True, help="folder with the original files"),
    opt("--download", action="store_true", help="download with torchvision if missing"),
    opt("--torchvision", default=None, help="torchvision dataset class to download (idx: MNIST, ...)"),
    opt("--channels", type=positive_int, default=None),
    opt("--size", type=positive_int, default=None, help="image side in pixels"),
    opt("--classes", type=positive_int, default=10),
    opt(
        "--pixel-range",
        type=float,
        nargs=2,
        default=schema("data.*.pixel_range"),
        help="raw pixel range mapped to [0, 1] (default %(default)s)",
    ),
    opt("--out", required=True),
)
def cmd_prepare(a):
    shapes = prepare(
        a.dataset,
        a.format,
        a.src,
        a.out,
        a.download,
        torchvision=a.torchvision,
        channels=a.channels,
        size=a.size,
        classes=a.classes,
        pixel_range=tuple(a.pixel_range),
    )
    present = [f for f in source_files(a.format, a.src) if f.is_file()]
    write_sidecars([a.out], a, extra={"shapes": shapes, "sources": source_digests(present)})
    print(f"prepared {a.dataset}: " + ", ".join(f"{k} {tuple(v)}" for k, v in shapes.items()), file=sys.stderr)


@command(
    "train",
    "train one model with one defense",
    opt("--name", default="model", help="model name, for logs"),
    NET,
    DATA,
    opt("--defense", required=True, help=names("defenses", "DEFENSES", joined=True)),
    declared("defenses", "DEFENSES"),
    opt("--smoothing", type=label_smoothing, default=None, help="correct-class probability, or none"),
    opt("--steps", type=positive_int, required=True, help="training iterations"),
    opt("--batch-size", type=positive_int, required=True),
    opt("--optimizer", default="adam", choices=allowed("training.*.optimizer"), help="training.<dataset>.optimizer"),
    opt("--lr", type=float, default=1e-3, help="learning rate (the peak of a cyclic schedule)"),
    opt(
        "--schedule", default=schema("training.*.schedule"), help="learning-rate schedule: constant, cyclic, piecewise"
    ),
    opt(
        "--eps-warmup",
        type=warmup_value,
        default=schema("training.*.eps_warmup"),
        help="fraction of the steps over which eps (and the attack's steps) ramp up linearly "
        "(training.<dataset>.eps_warmup; 0: off)",
    ),
    opt(
        "--precision",
        default=schema("compute.precision"),
        choices=allowed("compute.precision"),
        help="compute.precision",
    ),
    opt(
        "--merge-clean",
        action="store_true",
        help="one backward gives the clean loss's parameter grads and the first attack gradient",
    ),
    opt(
        "--compile",
        default=schema("compute.compile"),
        choices=allowed("compute.compile"),
        help="torch.compile mode for the training step (compute.compile; none: eager)",
    ),
    opt("--ckpt", default=None, help="checkpoint path (kept outside the outputs)"),
    opt("--ckpt-every", type=positive_int, default=schema("compute.ckpt_every")),
    opt("--progress-every", type=int, default=schema("compute.progress_every"), help="0: no progress lines"),
    opt(
        "--log-every",
        type=positive_int,
        default=schema("compute.log_every"),
        help="move the loss terms to the host every N steps",
    ),
    opt("--snapshots", type=positive_int, nargs="*", default=[], help="steps after which the model is kept"),
    opt("--snapshot-dir", default=None, help="folder of the snapshots (step<N>.pt)"),
    opt("--log-csv", default=None, help="per-step log output"),
    opt("--stop-after", type=positive_int, default=None, help=argparse.SUPPRESS),
    opt("--out", required=True, help="model state_dict output (.pt)"),
    RUN,
)
def cmd_train(a):
    from ..defenses import DEFENSES
    from ..modelfile import save_model
    from ..train import Recipe, RunOptions, train
    from ..trainlog import cleanup_checkpoint, write_log

    recipe = Recipe(**_fields(Recipe, a, hparams=DEFENSES.from_cli(a.defense, a)))
    options = RunOptions(
        **_fields(RunOptions, a, compile_mode=a.compile, ckpt_path=a.ckpt, snapshots=tuple(a.snapshots))
    )
    model, summary = train(data=_load_data(a, resolve_device(a.device)), recipe=recipe, options=options)
    if summary["steps_done"] < a.steps:
        print(f"[{a.name}] stopped after step {summary['steps_done']}; checkpoint kept at {a.ckpt}", file=sys.stderr)
        return 3
    log_rows = summary.pop("log_rows")
    if a.log_csv:
        write_log(a.log_csv, log_rows)
    save_model(model, a.out)
    values = {**summary.pop("values"), "name": a.name}
    write_sidecars([a.out], a, values=values, inputs=[a.data], extra={"train": summary})
    if a.ckpt:
        cleanup_checkpoint(a.ckpt)


# ---- evaluation


@command(
    "evaluate",
    "accuracy of a model under one attack",
    EVAL,
    ATTACK,
    opt(
        "--adv",
        default=None,
        help="the examples `craft` already made with this attack on this model (a transfer substitute's): "
        "the accuracy on them, instead of attacking again",
    ),
    opt("--out", required=True, help="JSON row"),
)
def cmd_evaluate(a):
    from ..evaluate import evaluate

    model, x, y = _load_eval(a)
    params = _attack_params(a)
    x_adv = _crafted(a, params, y) if a.adv else None
    row = evaluate(model, x, y, a.attack, params, a.batch_size, x_adv=x_adv)
    row.update(model=a.name, attack_name=a.attack_name or a.attack, seed=a.seed, dataset=a.dataset)
    if a.sample_seed is not None:  # the first n otherwise (rows of the paper's tables unchanged)
        row["sample_seed"] = a.sample_seed
    row["seconds"] = round(time.time() - a.started, 2)
    write_json_atomic(a.out, row)
    write_sidecars([a.out], a, inputs=[a.model, a.data] + ([a.adv] if a.adv else []))
    print(
        f"{a.name} under {row['attack_name']} {params}: accuracy {row['accuracy']:.4f} (n={row['n']})", file=sys.stderr
    )


def _crafted(a, params: dict, y):
    """x_adv of a file written by ``craft`` for this very evaluation: the same model, attack,
    parameters and test images (labels), else a one-line error naming what differs."""
    from ..serialization import safe_load

    blob = safe_load(a.adv, map_location=y.device)
    want = {"substitute": a.name, "attack": a.attack_name or a.attack, "params": params}
    have = {k: json.loads(blob[k]) if k == "params" else blob.get(k) for k in want}
    for k in want:
        if have[k] != want[k]:
            raise ConfigError(f"--adv {a.adv}: crafted with {k} {have[k]!r}, this evaluation needs {want[k]!r}")
    if blob["y"].shape != y.shape or not bool((blob["y"] == y).all()):
        n = blob["y"].shape[0]
        raise ConfigError(f"--adv {a.adv}: its {n} labels are not those of the first {y.shape[0]} test images")
    return blob["x_adv"].to(y.device)


@command(
    "craft",
    "craft adversarial test examples on a substitute (transfer)",
    EVAL,
    ATTACK,
    opt("--out", required=True, help="tensor file of x_adv and y"),
)
def cmd_craft(a):
    from ..evaluate import craft

    model, x, y = _load_eval(a)
    params = _attack_params(a)
    acc = craft(model, x, y, a.attack, params, a.batch_size, a.out, substitute=a.name, attack_name=a.attack_name)
    write_sidecars([a.out], a, inputs=[a.model, a.data], extra={"whitebox_accuracy": acc})
    print(
        f"crafted {x.shape[0]} examples on {a.name} ({a.attack} {params}); white-box accuracy {acc:.4f}",
        file=sys.stderr,
    )


@command(
    "evaluate-transfer",
    "accuracy of a target model on crafted examples",
    opt("--name", required=True, help="target model name"),
    opt("--model", required=True),
    NET,
    opt("--adv", nargs="+", required=True, help="files written by craft (one per substitute)"),
    opt("--batch-size", type=positive_int, default=1000),
    opt("--out", required=True),
    RUN,
)
def cmd_evaluate_transfer(a):
    from ..evaluate import evaluate_transfer

    dev = resolve_device(a.device)
    out = evaluate_transfer(
        a.model, a.adv, a.network, a.normalization, dev, a.batch_size, name=a.name, channels_last=a.channels_last
    )
    for r in out:
        r.update(seed=a.seed, dataset=a.dataset)
        print(f"{a.name} on examples from {r['substitute']}: accuracy {r['accuracy']:.4f}", file=sys.stderr)
    write_json_atomic(a.out, out)
    write_sidecars([a.out], a, inputs=[a.model, *a.adv])


@command(
    "eps-sweep",
    "accuracy of a model under one attack at each eps of a list",
    EVAL,
    opt("--sweep-name", required=True, help="the sweep's name in the config"),
    opt("--attack", required=True, choices=names("attacks", "ATTACKS", lambda d: "eps" in d.names())),
    opt("--eps-list", type=unit_value, nargs="+", required=True, help="eps values in [0, 1]; 0 is clean"),
    opt("--k", type=positive_int, default=None, help="steps of ifgsm/pgd"),
    opt("--restarts", type=positive_int, default=None, help="pgd restarts"),
    opt("--attack-seed", type=int, default=None, help="seed of pgd random starts"),
    opt("--out", required=True, help="JSON rows, one per eps"),
)
def cmd_eps_sweep(a):
    from ..evaluate import eps_sweep

    model, x, y = _load_eval(a)
    fixed = {"k": a.k, "restarts": a.restarts, "seed": a.attack_seed}
    out = eps_sweep(model, x, y, a.attack, a.eps_list, {k: v for k, v in fixed.items() if v is not None}, a.batch_size)
    for row in out:
        row.update(model=a.name, sweep=a.sweep_name, seed=a.seed, dataset=a.dataset)
        print(
            f"{a.name} {a.sweep_name} eps {row['eps']:g}: accuracy {row['accuracy']:.4f} (n={row['n']})",
            file=sys.stderr,
        )
    write_json_atomic(a.out, out)
    write_sidecars([a.out], a, inputs=[a.model, a.data])


# ---- loss surfaces


@command(
    "surface",
    "loss surface of section 3.4 for one model and attack",
    opt("--name", required=True),
    opt("--model", required=True),
    NET,
    opt("--data", required=True),
    opt("--attack", required=True, choices=names("attacks", "ATTACKS", lambda d: d.extra.get("direction"))),
    opt("--eps", type=eps_value, required=True),
    opt("--k", type=positive_int, default=None),
    opt("--n", type=positive_int, default=schema("figures.*.n"), help="minibatch size (paper: 128)"),
    opt("--t-max", type=float, default=schema("figures.*.t_max")),
    opt("--points", type=positive_int, default=schema("figures.*.points")),
    opt("--no-clip", action="store_true", help="do not clip perturbed images to [0,1]"),
    opt("--out", required=True, help=".npz with t and surface"),
    RUN,
)
def cmd_surface(a):
    from ..surface import surface_to_file

    model, x, y = _load_eval(a)
    surf = surface_to_file(model, x, y, a.attack, a.eps, a.k, a.t_max, a.points, a.seed, not a.no_clip, a.out)
    write_sidecars([a.out], a, inputs=[a.model, a.data])
    print(
        f"surface of {a.name} under {a.attack}: min {float(surf.min()):.2f} max {float(surf.max()):.2f}",
        file=sys.stderr,
    )


@command(
    "plot-surface",
    "draw loss surfaces side by side (3-D, matplotlib)",
    opt("--inputs", nargs="+", required=True),
    opt("--labels", nargs="+", required=True),
    opt("--title", default=""),
    opt("--out", nargs="+", required=True, help="figure files (.pdf, .png)"),
)
def cmd_plot_surface(a):
    from ..plots import plot_surfaces

    if len(a.inputs) != len(a.labels):
        raise ConfigError(f"{len(a.inputs)} inputs but {len(a.labels)} labels; give one label per input")
    plot_surfaces(a.inputs, a.labels, a.title, a.out)
    write_sidecars(a.out, a, inputs=a.inputs)


# ---- tables


@command(
    "table",
    "render a table (CSV, LaTeX, HTML) beside the paper's values",
    spec("the table's spec"),
    rows(),
    TABLE_OUTS,
)
def cmd_table(a):
    from ..tables import load_rows, render, tidy_table

    tidy = tidy_table(load_rows(a.rows), a.spec)
    render(tidy, a.spec, a.out_csv, a.out_tex, a.out_html)
    extra = {"config": a.spec.get("config", {}), "config_hash_of_study": a.spec.get("config_hash")}
    write_sidecars([a.out_csv, a.out_tex, a.out_html], a, inputs=a.rows, extra=extra)
    worst = tidy.dropna(subset=["diff"])
    msg = f", mean |diff| to the paper {worst['diff'].abs().mean():.4f}" if len(worst) else ""
    print(f"table {a.spec['name']}: {len(tidy)} cells{msg}", file=sys.stderr)


@command(
    "cost-table",
    "training cost per step and ratios, from model sidecars",
    models("model files (their .meta.json are read)"),
    spec("note, reference model names", default="{}"),
    TABLE_OUTS,
)
def cmd_cost_table(a):
    from ..costs import cost_table

    cost_table(a.models, a.spec, a.out_csv, a.out_tex, a.out_html)
    write_sidecars([a.out_csv, a.out_tex, a.out_html], a, inputs=a.models)
