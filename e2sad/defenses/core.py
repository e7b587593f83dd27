"""The defenses' registry, their shared hyperparameters, pass counts and costs, and the pieces
every defense reuses (the clean pass, label smoothing, the step record)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..attacks import loss_fn
from ..declare import Param, Registry
from ..errors import ConfigError

#: name -> declaration of every defense (:mod:`e2sad.declare`); ``defense:`` in the config names one
DEFENSES = Registry("defense")

# The defenses' hyperparameters, each declared once (EPS and K are the attacks').  ``budget=True``:
# in pixel units, ramped with eps by an eps warm-up (eps1, eps2); the loss weights (alpha, lam) are not,
# nor sigma: the scale of a probe that breaks eq. 3.2's zero gradient (as TRADES' fixed 0.001 N(0, 1)
# start), not a distance the attack may move.
ALPHA = Param("alpha", float, "weight of the clean loss J(x), eq. 2.6 / 3.3", lo=0, hi=1)
LAM = Param("lam", float, "e2SAD: weight lambda of the dissimilarity term, eq. 3.3", lo=0, hi=1)
EPS1 = Param("eps1", float, "e2SAD: first (FGSM) step size, eq. 3.1", lo=0, hi=1, open_lo=True, budget=True)
EPS2 = Param("eps2", float, "e2SAD: second step size, eq. 3.2", lo=0, hi=1, open_lo=True, budget=True)
SECOND_STEP = Param(
    "second_step",
    str,
    "e2SAD: reading of eq. 3.2's gradient (the literal one is exactly zero; see second_step_grad)",
    "entropy",
    choices=("literal", "entropy", "random_start", "clean_target"),
)
CLIP_SECOND = Param(
    "clip_second",
    str,
    "e2SAD: 'we do not clamp the second adversarial point to be within a norm ball' (range: [0, 1] only)",
    "range",
    choices=("range", "ball", "none"),
)
SIGMA = Param(
    "sigma", float, "e2SAD random_start: noise scale of the start x_adv + sigma N(0, 1)", 1e-3, lo=0, open_lo=True
)
NORM = Param(
    "norm", str, "Hamm: norm of the input gradient in eq. 2.8 (l1 is the dual of l-inf)", "l1", choices=("l1", "l2")
)
SECOND_STEP_VARIANTS = SECOND_STEP.choices

#: time of each pass relative to a forward F, measured on one thread of the AVX2 box (Table A.1
#: CNN, batch 256, 2026-11-25: docs/performance.md, "Projection rates"; bench/README.md, "Passes"):
#: B_in input-gradient backward, B_w parameter backward, B_inc B_in with create_graph, DB_w Hamm's
#: double backward, B_xw one backward to the input and the parameters together (the
#: ``merge_clean`` pass; its FLOPs' ratio, 2.00, not its time's, 2.27).  Used only where the plan
#: orders jobs (costliest first) and projects their time (:mod:`e2sad.plan.cost`); costs that are
#: compared count training FLOPs (:func:`step_flops`, :mod:`e2sad.flops`).
PASS_TIME_WEIGHTS = {"F": 1.0, "B_in": 1.13, "B_w": 1.75, "B_inc": 1.28, "DB_w": 4.34, "B_xw": 2.00}


def step_passes(defense: str, hparams: dict, merge_clean: bool = False) -> dict[str, int]:
    """The passes of one training step of ``defense`` (its declaration's counts).

    ``merge_clean`` (``compute.merge_clean``), for the defenses declared ``merge_clean=True``
    (those with a clean term, :func:`_clean_pass`): the clean term's parameter backward and the
    first attack gradient's input backward are one B_xw instead of a B_w and a B_in.
    """
    decl = DEFENSES.get_decl(defense, "defense")
    # a declaration without pass counts is taken as natural training (one forward, one backward)
    passes = dict(decl.extra.get("passes", lambda hp: {"F": 1, "B_w": 1})(hparams))
    if merge_clean and decl.extra.get("merge_clean"):
        passes["B_in"] -= 1
        passes["B_w"] -= 1
        passes["B_xw"] = passes.get("B_xw", 0) + 1
    return passes


def step_time(defense: str, hparams: dict, merge_clean: bool = False) -> float:
    """One training step of ``defense`` in forward passes' time (:func:`step_passes`, each pass
    weighted by :data:`PASS_TIME_WEIGHTS`): for ordering jobs and projecting time only."""
    return sum(n * PASS_TIME_WEIGHTS[p] for p, n in step_passes(defense, hparams, merge_clean).items())


def step_flops(defense: str, hparams: dict, pass_flops: dict[str, float], merge_clean: bool = False) -> float:
    """Training FLOPs of one step of ``defense`` on one image: its declared passes
    (:func:`step_passes`), each counted as what it computes on the network (``pass_flops``: one
    image's FLOPs of each pass kind, :func:`e2sad.flops.pass_flops`)."""
    return sum(n * pass_flops[p] for p, n in step_passes(defense, hparams, merge_clean).items())


@dataclass
class Step:
    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)


def smooth_labels(y: torch.Tensor, smoothing: float | None, classes: int = 10) -> torch.Tensor:
    """Label smoothing of section 3.2.4: the correct class gets ``smoothing`` (delta, e.g.
    0.75) and the remaining 1 - delta is shared equally by the other ``classes`` - 1 classes.
    ``None`` or 1.0 keeps hard labels (class indices).

    ``classes``: the dataset's number of classes (``data.<name>.classes``, stored in the prepared
    file as ``classes``); every caller passes it.  The default 10 (MNIST's and SVHN's) is kept for
    callers written before; targets of another width than the model's output are refused by
    :func:`e2sad.attacks.loss_fn` with one line."""
    if smoothing is None or smoothing == 1.0:
        return y
    if classes < 2:
        raise ConfigError(f"label smoothing needs at least 2 classes; the data has {classes}")
    off = (1.0 - smoothing) / (classes - 1)
    target = torch.full((y.shape[0], classes), off, device=y.device)
    target.scatter_(1, y.view(-1, 1), smoothing)
    return target


class _WithParamGrads(torch.autograd.Function):
    """A scalar ``value`` whose gradient w.r.t. ``params`` is given: ``grads`` (times the upstream)."""

    @staticmethod
    def forward(ctx, value, grads, *params):
        ctx.grads = grads
        return value.clone()

    @staticmethod
    def backward(ctx, upstream):
        return (None, None, *(g * upstream for g in ctx.grads))


def clean_pass(model, x, y, merge: bool = False):
    """Clean forward kept for the final backward; returns logits, J(x), grad_x J(x).

    ``merge``: one backward gives grad_x J and grad_theta J together (the input
    gradient is nearly free on top of the parameter backward, which propagates
    through every layer but the first anyway); the returned J(x) then carries
    grad_theta J as a constant instead of its graph, so a later backward of the
    loss gives the same parameter gradients (up to float rounding) without a
    second pass through the clean graph.  Not for higher-order derivatives of
    the loss w.r.t. the parameters.
    """
    x = x.detach().requires_grad_(True)
    logits = model(x)
    loss = loss_fn(logits, y)
    params = [p for p in model.parameters() if p.requires_grad] if merge else []
    if not params:
        grad = torch.autograd.grad(loss, x, retain_graph=True)[0]
        return logits, loss, grad
    grad, *pgrads = torch.autograd.grad(loss, [x, *params])
    return logits.detach(), _WithParamGrads.apply(loss.detach(), tuple(pgrads), *params), grad
