"""The eight declared defenses as training losses, one signature for all::

    defense(model, x, y, *, generator=None, **hyperparameters) -> Step

``x``: a (N, C, H, W) batch in [0, 1]; ``y``: the training targets, class
indices or label-smoothed distributions (N, classes) (:func:`smooth_labels` with
the dataset's classes); any number of classes, the model's output width; the same
targets are used by the attack inside training (Algorithm 1, line 3:
CE(y_i, f(x_i))).  The returned ``Step.loss`` is the scalar to minimise; the
trainer asks its backward for parameter gradients only.  ``Step.terms`` holds
detached per-term values for the log.

Forward passes are reused wherever the math allows: the clean forward is kept
and gives both the clean loss and the first attack step's input gradient; the
first adversarial forward gives the adversarial loss and (for e2SAD) the
second-step gradient.  See ``bench/`` for the pass counts and timings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .attacks import EPS, STEP, K, eps_box, fgsm, ifgsm, input_grad, loss_fn, project
from .declare import Param, Registry
from .errors import ConfigError

#: name -> declaration of every defense (:mod:`e2sad.declare`); ``defense:`` in the config names one
DEFENSES = Registry("defense")

# The defenses' hyperparameters, each declared once (EPS and K are the attacks').
ALPHA = Param("alpha", float, "weight of the clean loss J(x), eq. 2.6 / 3.3", lo=0, hi=1)
LAM = Param("lam", float, "e2SAD: weight lambda of the dissimilarity term, eq. 3.3", lo=0, hi=1)
EPS1 = Param("eps1", float, "e2SAD: first (FGSM) step size, eq. 3.1", lo=0, hi=1, open_lo=True)
EPS2 = Param("eps2", float, "e2SAD: second step size, eq. 3.2", lo=0, hi=1, open_lo=True)
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

#: time of each pass relative to a forward F on the 2-core CPU of bench/README.md (Table A.1 CNN,
#: batch 256): B_in input-gradient backward, B_w parameter backward, B_inc B_in with create_graph,
#: DB_w Hamm's double backward, B_xw one backward to the input and the parameters together (the
#: ``merge_clean`` pass; 2.00 F of FLOPs, bench/README.md "Merge experiment").  Used to order jobs
#: (costliest first), estimate times and count the frontier's training cost.
PASS_COST = {"F": 1.0, "B_in": 1.13, "B_w": 1.75, "B_inc": 1.28, "DB_w": 4.34, "B_xw": 2.00}


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


def step_cost(defense: str, hparams: dict, merge_clean: bool = False) -> float:
    """One training step of ``defense`` in units of a forward pass (:func:`step_passes`)."""
    return sum(n * PASS_COST[p] for p, n in step_passes(defense, hparams, merge_clean).items())


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


def _clean_pass(model, x, y, merge: bool = False):
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


@DEFENSES.declare("natural", paper="natural training, J(theta, x, y)", passes=lambda hp: {"F": 1, "B_w": 1})
def natural(model, x, y, **_):
    """Natural training: J(theta, x, y)."""
    loss = loss_fn(model(x), y)
    return Step(loss, {"clean": loss.detach()})


@DEFENSES.declare(
    "fgsm_at",
    params=(ALPHA, EPS),
    paper="Goodfellow et al. 2015; paper eq. 2.6 with FGSM",
    passes=lambda hp: {"F": 2, "B_in": 1, "B_w": 2},
    merge_clean=True,
)
def fgsm_at(model, x, y, *, alpha: float, eps: float, merge_clean: bool = False, **_):
    """FGSM adversarial training, eq. (2.6): alpha J(x) + (1 - alpha) J(x_fgsm).

    ``merge_clean``: the clean term's parameter gradients come from the same
    backward as the attack's input gradient (see :func:`_clean_pass`); opt-in.
    """
    logits, loss_clean, g = _clean_pass(model, x, y, merge_clean)
    x_adv = fgsm(model, x, y, eps=eps, grad=g)
    loss_adv = loss_fn(model(x_adv), y)
    loss = alpha * loss_clean + (1 - alpha) * loss_adv
    return Step(loss, {"clean": loss_clean.detach(), "adv": loss_adv.detach()})


@DEFENSES.declare(
    "ifgsm_at",
    params=(ALPHA, EPS, K),
    paper="Kurakin et al. 2017; paper eq. 2.6 with IFGSM",
    passes=lambda hp: {"F": hp["k"] + 1, "B_in": hp["k"], "B_w": 2},
    merge_clean=True,
)
def ifgsm_at(model, x, y, *, alpha: float, eps: float, k: int, merge_clean: bool = False, **_):
    """IFGSM adversarial training, eq. (2.6) with x_adv from IFGSM (step eps/k, k steps).
    ``merge_clean``: as in :func:`fgsm_at`."""
    logits, loss_clean, g = _clean_pass(model, x, y, merge_clean)
    x_adv = ifgsm(model, x, y, eps=eps, k=k, grad=g)
    loss_adv = loss_fn(model(x_adv), y)
    loss = alpha * loss_clean + (1 - alpha) * loss_adv
    return Step(loss, {"clean": loss_clean.detach(), "adv": loss_adv.detach()})


def soft_ce(target_probs: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """CE(p, f(.)) = -sum_c p_c log softmax(logits)_c, averaged over the batch."""
    return -(target_probs * F.log_softmax(logits, dim=1)).sum(1).mean()


def second_step_grad(
    model, x_adv, logits_adv, logits_clean, variant: str, sigma: float = 1e-3, generator=None
) -> torch.Tensor:
    """The input gradient of e2SAD's second step (eq. 3.2) under one reading.

    Eq. 3.2 takes grad_{x2} CE(f(x_adv), f(x2)) at x2 = x_adv.  Read literally
    (f(x_adv) a fixed target) this is exactly zero: p log p is the minimum of
    the cross entropy over its second argument, so sign() acts on rounding
    noise.  The readings:

    - ``literal``: target f(x_adv) detached, gradient at x_adv (zero up to rounding).
    - ``entropy``: the gradient flows into both arguments: grad of the entropy
      H(f(x_adv)) at x_adv, i.e. ascent on the prediction's uncertainty.
    - ``random_start``: as TRADES, x2 starts at x_adv + sigma * N(0, 1) and the
      gradient of CE(f(x_adv) detached, f(x2)) is taken there (one extra forward).
    - ``clean_target``: the target is f(x) of the clean input, detached.
    """
    if variant == "literal":
        d = soft_ce(F.softmax(logits_adv, 1).detach(), logits_adv)
        return torch.autograd.grad(d, x_adv, retain_graph=True)[0]
    if variant == "entropy":
        d = soft_ce(F.softmax(logits_adv, 1), logits_adv)
        return torch.autograd.grad(d, x_adv, retain_graph=True)[0]
    if variant == "clean_target":
        d = soft_ce(F.softmax(logits_clean, 1).detach(), logits_adv)
        return torch.autograd.grad(d, x_adv, retain_graph=True)[0]
    if variant == "random_start":
        noise = torch.randn(x_adv.shape, generator=generator, device=x_adv.device, dtype=x_adv.dtype)
        x0 = (x_adv.detach() + sigma * noise).requires_grad_(True)
        d = soft_ce(F.softmax(logits_adv, 1).detach(), model(x0))
        return torch.autograd.grad(d, x0)[0]
    raise ConfigError(f"e2sad second_step '{variant}' unknown, allowed: {', '.join(SECOND_STEP.choices)}")


@DEFENSES.declare(
    "e2sad",
    params=(ALPHA, LAM, EPS1, EPS2, SECOND_STEP, CLIP_SECOND, SIGMA),
    paper="paper eq. 3.3, Algorithm 1",
    passes=lambda hp: {"F": 3 + (hp.get("second_step") == "random_start"), "B_in": 2, "B_w": 3},
    random=lambda hp: hp.get("second_step") == "random_start",
    merge_clean=True,
)
def e2sad_loss(
    model,
    x,
    y,
    *,
    alpha: float,
    lam: float,
    eps1: float,
    eps2: float,
    second_step: str = "entropy",
    clip_second: str = "range",
    sigma: float = 1e-3,
    generator=None,
    merge_clean: bool = False,
    **_,
):
    """e2SAD, eq. (3.3) / Algorithm 1:

    alpha J(x) + (1 - alpha) J(x_adv) + lam * mean_i CE(f(x_adv_i), f(x2_i)),

    x_adv = clip(x + eps1 sign(grad_x J)) (FGSM, step 1), and
    x2 = x_adv + eps2 sign(g2) (step 2, :func:`second_step_grad`), clipped per
    ``clip_second``: ``range`` to [0, 1] only (the paper: "we do not clamp the
    second adversarial point to be within a norm ball around the clean data
    point"), ``ball`` also to the eps1-ball around x, ``none`` not at all.
    Both arguments of the dissimilarity depend on theta (eq. 3.3), so its
    gradient flows through f(x_adv) and f(x2).
    Passes: 3 forwards, 2 input backwards, 3 parameter backwards (+1 forward
    for ``random_start``, whose second-step input backward runs through that
    forward instead of the adversarial one); with ``merge_clean`` (opt-in, see
    :func:`_clean_pass`) one B_in and one B_w of the clean graph become one
    backward for both.
    """
    logits, loss_clean, g1 = _clean_pass(model, x, y, merge_clean)
    x_adv = fgsm(model, x, y, eps=eps1, grad=g1).requires_grad_(True)
    logits_adv = model(x_adv)
    loss_adv = loss_fn(logits_adv, y)
    g2 = second_step_grad(model, x_adv, logits_adv, logits, second_step, sigma, generator)
    x2 = x_adv.detach() + eps2 * g2.sign()
    if clip_second == "range":
        x2 = x2.clamp(0.0, 1.0)
    elif clip_second == "ball":
        x2 = project(x2, x, eps1)
    elif clip_second != "none":
        raise ConfigError(f"e2sad clip_second '{clip_second}' unknown, allowed: {', '.join(CLIP_SECOND.choices)}")
    dissim = soft_ce(F.softmax(logits_adv, 1), model(x2))
    loss = alpha * loss_clean + (1 - alpha) * loss_adv + lam * dissim
    g1_abs = g1.abs().mean().detach()
    g2_abs = g2.abs().mean().detach()
    return Step(
        loss,
        {
            "clean": loss_clean.detach(),
            "adv": loss_adv.detach(),
            "dissim": dissim.detach(),
            "g1_abs": g1_abs,
            "g2_abs": g2_abs,
            "g2_over_g1": g2_abs / g1_abs.clamp_min(1e-30),
        },
    )


@DEFENSES.declare(
    "hamm",
    params=(ALPHA, EPS, NORM),
    paper="Hamm & Mehra 2017; paper eq. 2.8",
    passes=lambda hp: {"F": 2, "B_in": 1, "B_inc": 1, "B_w": 1, "DB_w": 1},
    merge_clean=True,
)
def hamm_minimax(model, x, y, *, alpha: float, eps: float, norm: str = "l1", merge_clean: bool = False, **_):
    """Hamm's minimax defense, eq. (2.8), with the paper's mixture of clean loss:

    alpha J(x) + (1 - alpha) [ J(x_adv) + eps N / 2 * ||dJ(x_adv)/dx_adv|| ],

    x_adv from FGSM (Hamm's inner step).  With J the batch mean, N dJ/dx_i is
    example i's own gradient; we take its ``norm`` (``l1``, the dual of the
    l-infinity threat model, or ``l2``) and average over the batch, so the
    penalty is on the scale of J.  The penalty is differentiated through
    (double backward): x_adv is treated as a function of theta only through it.
    ``merge_clean``: as in :func:`fgsm_at`.
    """
    NORM.check(norm, "hamm norm")
    logits, loss_clean, g = _clean_pass(model, x, y, merge_clean)
    x_adv = fgsm(model, x, y, eps=eps, grad=g).requires_grad_(True)
    loss_adv = loss_fn(model(x_adv), y)
    g_adv = torch.autograd.grad(loss_adv, x_adv, create_graph=True)[0] * x.shape[0]
    p = 1 if norm == "l1" else 2
    penalty = 0.5 * eps * g_adv.flatten(1).norm(p=p, dim=1).mean()
    loss = alpha * loss_clean + (1 - alpha) * (loss_adv + penalty)
    return Step(loss, {"clean": loss_clean.detach(), "adv": loss_adv.detach(), "penalty": penalty.detach()})


# --------------------------------------------------------------------------- #
# Fast adversarial training that followed e2SAD (the frontier issue)
# --------------------------------------------------------------------------- #

FGSM_RS_ALPHA = Param(
    "alpha",
    float,
    "FGSM-RS: step size of the FGSM step from the random start (Wong et al. 2020: 1.25 eps; MNIST: 0.375)",
    lo=0,
    open_lo=True,
)
BETA = Param("beta", float, "TRADES: weight of the KL term (Zhang et al. 2019; MNIST: 1.0)", lo=0)


def _uniform_start(x, eps: float, generator=None):
    """delta ~ U[-eps, eps]^d, one per pixel (the random start of FGSM-RS and PGD)."""
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (2 * noise - 1) * eps


START_CLIP = Param(
    "start_clip",
    str,
    "FGSM-RS: the random start where the gradient is taken. none: x + delta as drawn, outside [0, 1] where "
    "it falls (MNIST/train_mnist.py: 'delta = torch.zeros_like(X).uniform_(-args.epsilon, args.epsilon)' ... "
    "'output = model(X + delta)'; the paper's Algorithm 3); range: clipped to [0, 1] first "
    "(CIFAR10/train_fgsm.py: 'delta.data = clamp(delta, lower_limit - X, upper_limit - X)')",
    "none",
    choices=("none", "range"),
)
STEP_CLIP = Param(
    "step_clip",
    str,
    "FGSM-RS: the point after the step. ball_range: to the eps-ball, then to [0, 1] (MNIST/train_mnist.py: "
    "'delta.data = torch.clamp(delta + args.alpha * torch.sign(grad), -args.epsilon, args.epsilon)', "
    "'delta.data = torch.max(torch.min(1-X, delta.data), 0-X)'); ball: to the eps-ball only, the trained "
    "input may leave [0, 1] (the paper's Algorithm 3: 'delta = max(min(delta, eps), -eps)')",
    "ball_range",
    choices=("ball_range", "ball"),
)


def fgsm_rs_point(
    model,
    x,
    y,
    *,
    eps: float,
    alpha: float,
    start_clip: str = START_CLIP.default,
    step_clip: str = STEP_CLIP.default,
    generator=None,
):
    """FGSM-RS's adversarial point (Wong, Rice, Kolter 2020, Algorithm 3): delta ~ U[-eps, eps],
    delta += alpha sign(grad_delta J(x + delta)), projected to the eps-ball.  Their paper and their
    released code differ on the [0, 1] range; each difference is a declared choice (defaults: their
    MNIST code): ``start_clip`` (:data:`START_CLIP`) whether x + delta is clipped to [0, 1] before the
    gradient is taken, ``step_clip`` (:data:`STEP_CLIP`) whether the stepped point is.
    Returns (x_adv, the start delta)."""
    START_CLIP.check(start_clip, "fgsm_rs start_clip")
    STEP_CLIP.check(step_clip, "fgsm_rs step_clip")
    delta0 = _uniform_start(x, eps, generator)
    box = eps_box(x, eps)
    start = torch.clamp(x + delta0, *box) if start_clip == "range" else x + delta0
    g = input_grad(model, start, y)
    if step_clip == "ball_range":
        return torch.clamp(start + alpha * g.sign(), *box).detach(), delta0
    return (x + torch.clamp(start - x + alpha * g.sign(), -eps, eps)).detach(), delta0


@DEFENSES.declare(
    "fgsm_rs",
    params=(EPS, FGSM_RS_ALPHA, START_CLIP, STEP_CLIP),
    paper="Wong, Rice, Kolter 2020, 'Fast is better than free' (FGSM from a random start)",
    passes=lambda hp: {"F": 2, "B_in": 1, "B_w": 1},
    random=lambda hp: True,
)
def fgsm_rs(
    model,
    x,
    y,
    *,
    eps: float,
    alpha: float,
    start_clip: str = START_CLIP.default,
    step_clip: str = STEP_CLIP.default,
    generator=None,
    **_,
):
    """FGSM-RS: J(theta, x_adv, y) only, x_adv from :func:`fgsm_rs_point`."""
    x_adv, _ = fgsm_rs_point(
        model, x, y, eps=eps, alpha=alpha, start_clip=start_clip, step_clip=step_clip, generator=generator
    )
    loss = loss_fn(model(x_adv), y)
    return Step(loss, {"adv": loss.detach()})


def pgd_point(model, x, y, *, eps: float, k: int, step: float | None = None, generator=None):
    """PGD's adversarial point for training (Madry et al. 2018): a uniform random start in the
    eps-ball, then k signed-gradient steps of size ``step`` (default 2.5 eps / k), each projected
    to the eps-ball and [0, 1]; one restart, no selection."""
    step = 2.5 * eps / k if step is None else step
    box = eps_box(x, eps)
    x_adv = torch.clamp(x + _uniform_start(x, eps, generator), *box)
    for _ in range(k):
        x_adv = torch.clamp(x_adv + step * input_grad(model, x_adv, y).sign(), *box)
    return x_adv.detach()


@DEFENSES.declare(
    "pgd_at",
    params=(EPS, K, STEP),
    paper="Madry et al. 2018, PGD adversarial training (MNIST: 40 steps of 0.01, eps 0.3)",
    passes=lambda hp: {"F": hp["k"] + 1, "B_in": hp["k"], "B_w": 1},
    random=lambda hp: True,
)
def pgd_at(model, x, y, *, eps: float, k: int, step: float | None = None, generator=None, **_):
    """PGD-AT: J(theta, x_adv, y) only, x_adv from :func:`pgd_point`."""
    loss = loss_fn(model(pgd_point(model, x, y, eps=eps, k=k, step=step, generator=generator)), y)
    return Step(loss, {"adv": loss.detach()})


def trades_kl(logits_clean, logits_adv) -> torch.Tensor:
    """KL(f(x) || f(x')), summed over classes, averaged over the batch (TRADES' robust term)."""
    return F.kl_div(F.log_softmax(logits_adv, 1), F.softmax(logits_clean, 1), reduction="batchmean")


@DEFENSES.declare(
    "trades",
    params=(BETA, EPS, K, STEP),
    paper="Zhang et al. 2019, TRADES: CE(f(x), y) + beta KL(f(x) || f(x')) (MNIST: beta 1, 40 steps of 0.01)",
    passes=lambda hp: {"F": hp["k"] + 2, "B_in": hp["k"], "B_w": 2},
    random=lambda hp: True,
)
def trades(model, x, y, *, beta: float, eps: float, k: int, step: float | None = None, generator=None, **_):
    """TRADES: CE(f(x), y) + beta KL(f(x) || f(x')), x' from k signed-gradient steps on the KL
    (target f(x) fixed) from x + 0.001 N(0, 1), projected to the eps-ball and [0, 1].  The clean
    forward is kept: it gives the CE, the attack's target and the KL's first argument."""
    step = 2.5 * eps / k if step is None else step
    logits = model(x)
    target = logits.detach()
    box = eps_box(x, eps)
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    x_adv = torch.clamp(x + 0.001 * noise, *box)
    for _ in range(k):
        x_adv = x_adv.detach().requires_grad_(True)
        g = torch.autograd.grad(trades_kl(target, model(x_adv)), x_adv)[0]
        x_adv = torch.clamp(x_adv + step * g.sign(), *box)
    loss_clean = loss_fn(logits, y)
    kl = trades_kl(logits, model(x_adv.detach()))
    return Step(loss_clean + beta * kl, {"clean": loss_clean.detach(), "kl": kl.detach()})


def get_defense(name: str):
    """(loss function, names of its hyperparameters) of the defense declared as ``name``."""
    decl = DEFENSES.get_decl(name, "defense")
    return decl.fn, tuple(decl.names())
