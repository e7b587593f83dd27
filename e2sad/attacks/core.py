"""White-box attacks under the l-infinity threat model, in [0, 1] pixel space.

Every attack has one signature::

    attack(model, x, y, *, eps, ...) -> x_adv

``x`` is a (N, C, H, W) float tensor in [lo, hi] (default [0, 1]); ``y`` is
either class indices (N,) int64 or target distributions (N, classes) float
(label smoothing); the loss is the cross entropy J(theta, x, y) of the paper.
``x_adv`` has the shape of ``x``, is detached, and lies in the eps-ball around
``x`` intersected with [lo, hi].  ``model`` is used as it is (no mode change).

Attacks that training reuses accept ``grad=``: the input gradient at ``x``,
already computed from a forward the caller keeps (the clean forward of the
defenses), so that the first attack step needs no forward or backward of its
own.  This is the single place where FGSM and IFGSM are defined.
"""

from __future__ import annotations

import datetime
import sys
import time

import torch
import torch.nn.functional as F

from ..declare import Param, Registry
from ..errors import ConfigError

#: name -> declaration of every attack (:mod:`e2sad.declare`); ``kind:`` in the config names one
ATTACKS = Registry("attack kind")

# The attack hyperparameters, each declared once (defenses reuse EPS and K).
EPS = Param(
    "eps", float, "l-infinity budget in [0, 1] pixel units (e.g. 0.3 or 24/255)", lo=0, hi=1, open_lo=True, budget=True
)
K = Param("k", int, "number of attack steps", lo=1)
STEP = Param(
    "step",
    float,
    "PGD step size (Madry et al.: 0.01 on MNIST; default 2.5 eps / k)",
    None,
    lo=0,
    open_lo=True,
    budget=True,
)
RESTARTS = Param("restarts", int, "random restarts; per example the worst case is kept", 1, lo=1)
APGD_STEPS = Param("steps", int, "APGD iterations (Croce & Hein 2020: 100)", 100, lo=1)
ATTACK_SEED = Param("seed", int, "seed of the random starts", 0, lo=0, flag="attack-seed")


def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """J(theta, x, y): mean cross entropy with hard (indices) or soft labels.

    Soft labels (N, classes) must have the model's classes (a shape check, no host sync): label
    smoothing with another class count than the dataset's is one line, not a shape traceback."""
    if y.dim() == 2 and y.shape[1] != logits.shape[1]:
        raise ConfigError(
            f"label-smoothed targets have {y.shape[1]} classes but the model has {logits.shape[1]} outputs; "
            "smooth_labels needs the dataset's classes (data.<name>.classes)"
        )
    return F.cross_entropy(logits, y)


def n_classes(model, x: torch.Tensor) -> int:
    """The number of classes of ``model``: the width of its output on one image of ``x`` (the
    network takes it from the dataset's declaration, so the attacks ask the network)."""
    with torch.no_grad():
        return int(model(x[:1]).shape[1])


#: APGD-T's targeted DLR loss divides by the largest minus the 3rd and 4th largest logits
APGD_T_MIN_CLASSES = 4


def targeted_classes(model, x: torch.Tensor, attack: str) -> int:
    """:func:`n_classes` for the targeted attacks of AutoAttack (APGD-T, FAB-T): one target per class
    but the true one; one line when the model has fewer classes than APGD-T's DLR loss needs."""
    classes = n_classes(model, x)
    if classes < APGD_T_MIN_CLASSES:
        raise ConfigError(
            f"{attack}: the model has {classes} classes; APGD-T's targeted DLR loss needs at least "
            f"{APGD_T_MIN_CLASSES} (Croce & Hein 2020)"
        )
    return classes


def input_grad(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of J at ``x`` with respect to the input only (no parameter grads)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        loss = loss_fn(model(x), y)
        return torch.autograd.grad(loss, x)[0]


def eps_box(x: torch.Tensor, eps: float, lo: float = 0.0, hi: float = 1.0):
    """Bounds of clamp_{x,eps} of eq. (2.2) intersected with [lo, hi], per pixel:
    (max(lo, x - eps), min(hi, x + eps)).  Fixed for an attack: compute once, reuse every step."""
    return torch.clamp(x - eps, min=lo), torch.clamp(x + eps, max=hi)


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float, lo: float = 0.0, hi: float = 1.0, *, box=None):
    """clamp_{x,eps} of eq. (2.2): each pixel into [max(lo, x-eps), min(hi, x+eps)].

    ``box``: the bounds from :func:`eps_box` (iterative attacks pass them, so a step is one clamp)."""
    lower, upper = eps_box(x, eps, lo, hi) if box is None else box
    return torch.clamp(x_adv, lower, upper)


@ATTACKS.declare("none", paper="no attack: the clean test images", passes=lambda p, classes: {})
def clean(model, x, y, **_):
    """No attack: the clean inputs."""
    return x.detach()


@ATTACKS.declare(
    "fgsm",
    iterative=False,
    params=(EPS,),
    paper="Goodfellow et al. 2015; paper eq. 2.1",
    direction=True,
    passes=lambda p, classes: {"F": 1, "B_in": 1},
)
def fgsm(model, x, y, *, eps: float, lo: float = 0.0, hi: float = 1.0, grad=None) -> torch.Tensor:
    """FGSM (Goodfellow et al. 2015; paper eq. 2.1): x + eps * sign(grad_x J), clipped to [lo, hi].

    Args:
        eps: l-infinity budget, in pixel units.
        grad: optional precomputed grad_x J(theta, x, y) (reuses a kept forward).
    """
    g = input_grad(model, x, y) if grad is None else grad
    return torch.clamp(x.detach() + eps * g.sign(), lo, hi).detach()


@ATTACKS.declare(
    "ifgsm",
    iterative=True,
    params=(EPS, K),
    paper="Kurakin et al. 2017 (BIM); paper eq. 2.2",
    direction=True,
    passes=lambda p, classes: {"F": p["k"], "B_in": p["k"]},
)
def ifgsm(model, x, y, *, eps: float, k: int, lo: float = 0.0, hi: float = 1.0, grad=None):
    """IFGSM / BIM (Kurakin et al. 2017; paper eq. 2.2): k steps of size a = eps/k,
    each followed by clamp_{x,eps} and the [lo, hi] range.  Starts at x (no random start).

    Args:
        eps: l-infinity budget; k: number of steps (>= 1).
        grad: optional precomputed grad_x J at x, used for the first step.
    """
    if k < 1:
        raise ConfigError(f"ifgsm: k={k} not allowed, k must be >= 1")
    x = x.detach()
    step = eps / k
    box = eps_box(x, eps, lo, hi)
    x_adv = x
    for i in range(k):
        g = grad if (i == 0 and grad is not None) else input_grad(model, x_adv, y)
        x_adv = torch.clamp(x_adv + step * g.sign(), *box)
    return x_adv.detach()


@ATTACKS.declare(
    "pgd",
    iterative=True,
    params=(EPS, K, STEP, RESTARTS, ATTACK_SEED),
    paper="Madry et al. 2018",
    # at most: a restart after the first runs only on what the earlier ones left correct
    passes=lambda p, classes: {
        "F": (p["k"] + 1) * p.get("restarts", RESTARTS.default),
        "B_in": p["k"] * p.get("restarts", RESTARTS.default),
    },
)
def pgd(
    model,
    x,
    y,
    *,
    eps: float,
    k: int,
    step: float | None = None,
    restarts: int = 1,
    lo: float = 0.0,
    hi: float = 1.0,
    seed: int = 0,
) -> torch.Tensor:
    """PGD (Madry et al. 2018): uniform random start in the eps-ball, k signed-gradient
    steps of size ``step`` (default 2.5 * eps / k) with projection, ``restarts`` times;
    keeps, per example, the first restart that misclassifies it (else the highest loss).
    A restart attacks only the examples no earlier restart misclassified (each example's
    trajectory depends on itself alone, so the misclassified set is the same as attacking all,
    at a fraction of the passes); every restart still draws its start for the whole batch, so the
    starts do not depend on which examples are left. ``y`` must be class indices here.
    """
    if k < 1 or restarts < 1:
        raise ConfigError(f"pgd: k={k}, restarts={restarts} not allowed, both must be >= 1")
    x = x.detach()
    step = 2.5 * eps / k if step is None else step
    gen = torch.Generator(device=x.device).manual_seed(seed)
    best = x.clone()
    best_loss = torch.full((x.shape[0],), -float("inf"), device=x.device)
    fooled = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    lower, upper = eps_box(x, eps, lo, hi)
    for r in range(restarts):
        noise = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        # the examples still classified correctly (all of them in the first restart)
        live = torch.arange(x.shape[0], device=x.device) if r == 0 else (~fooled).nonzero().squeeze(1)
        if live.numel() == 0:
            break
        box = (lower[live], upper[live])
        x_live, y_live = x[live], y[live]
        x_adv = torch.clamp(x_live + (2 * noise[live] - 1) * eps, *box)
        for _ in range(k):
            x_adv = torch.clamp(x_adv + step * input_grad(model, x_adv, y_live).sign(), *box)
        with torch.no_grad():
            logits = model(x_adv)
            loss = F.cross_entropy(logits, y_live, reduction="none")
            wrong = logits.argmax(1) != y_live
        # misclassified now, or (still correct everywhere) a higher loss than before
        better = wrong | (loss > best_loss[live])
        keep = live[better]
        best[keep] = x_adv[better]
        best_loss[keep] = loss[better]
        fooled[live[wrong]] = True
    return best.detach()


def get_attack(name: str):
    """(function, names of its hyperparameters) of the attack declared as ``name``."""
    decl = ATTACKS.get_decl(name, "attack")
    return decl.fn, tuple(decl.names())


def run_attack(model, x, y, name: str, params: dict, batch_size: int = 500, notes: dict | None = None) -> torch.Tensor:
    """Apply attack ``name`` with ``params`` to all of ``x`` in batches.

    ``notes``: a dict for what an attack declared with ``notes=True`` reports beside its examples
    (the reference AutoAttack's check flags), merged over the batches; other attacks leave it."""
    fn, allowed = get_attack(name)
    bad = sorted(set(params) - set(allowed))
    if bad:
        raise ConfigError(f"attack '{name}' takes no parameter(s) {bad}; allowed: {list(allowed)}")
    extra = {"notes": notes} if notes is not None and ATTACKS[name].extra.get("notes") else {}
    out = torch.empty_like(x)
    n_batches, started = -(-x.shape[0] // batch_size), time.time()
    for b, i in enumerate(range(0, x.shape[0], batch_size), 1):
        out[i : i + batch_size] = fn(model, x[i : i + batch_size], y[i : i + batch_size], **params, **extra)
        if n_batches > 1:
            elapsed = time.time() - started
            eta = elapsed / b * (n_batches - b)
            print(
                f"[{name}] batch {b}/{n_batches} of {batch_size} | elapsed {_hms(elapsed)} ETA {_hms(eta)}",
                file=sys.stderr,
                flush=True,
            )
    return out


def _hms(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(seconds)))


def single_step_kinds() -> tuple[str, ...]:
    """The attack kinds declared single-step (``iterative=False``): one gradient step."""
    return tuple(n for n, d in ATTACKS.items() if d.extra.get("iterative") is False)


def iterative_kinds() -> tuple[str, ...]:
    """The attack kinds declared iterative (``iterative=True``): several gradient steps from one
    image (what catastrophic overfitting and the sanity checks compare against a single step)."""
    return tuple(n for n, d in ATTACKS.items() if d.extra.get("iterative"))
