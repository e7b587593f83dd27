"""The fast adversarial training that followed the paper: FGSM-RS (Wong, Rice & Kolter 2020),
PGD-AT (Madry et al. 2018) and TRADES (Zhang et al. 2019)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..attacks import EPS, STEP, K, eps_box, input_grad, loss_fn
from ..declare import Param
from .core import DEFENSES, Step

FGSM_RS_ALPHA = Param(
    "alpha",
    float,
    "FGSM-RS: step size of the FGSM step from the random start (Wong et al. 2020: 1.25 eps; MNIST: 0.375)",
    lo=0,
    open_lo=True,
    budget=True,
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
