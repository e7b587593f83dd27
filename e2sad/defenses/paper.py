"""The paper's defenses (chapters 2-3): natural training, FGSM and IFGSM adversarial training
(eq. 2.6), e2SAD (eqs. 3.1-3.3, Algorithm 1) and Hamm's minimax defense."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..attacks import EPS, K, fgsm, ifgsm, loss_fn, project
from ..errors import ConfigError
from .core import ALPHA, CLIP_SECOND, DEFENSES, EPS1, EPS2, LAM, NORM, SECOND_STEP, SIGMA, Step, clean_pass


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
    logits, loss_clean, g = clean_pass(model, x, y, merge_clean)
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
    logits, loss_clean, g = clean_pass(model, x, y, merge_clean)
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
    logits, loss_clean, g1 = clean_pass(model, x, y, merge_clean)
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
    logits, loss_clean, g = clean_pass(model, x, y, merge_clean)
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
