"""Loss surfaces of section 3.4 (Figure 3.3 a/b).

For each clean image x_i of a minibatch of 128: g1 = sign(x_adv_i - x_i), x_adv
from FGSM or IFGSM; g2 a direction orthogonal to g1.  The surface is the
hard-label cross entropy summed over the minibatch at x_i + t1 g1 + t2 g2,
t1, t2 in [0, 0.4].

How g2 is drawn (the paper says only "a direction orthogonal to g1"): a random
sign vector (seeded), made exactly orthogonal to g1 by giving it, on g1's
support, as many +1 as -1 relative to g1 (g1 . g2 = 0; one pixel is set to 0
when the support is odd).  So g2 is, like g1, a +-1 vector, and t2 is in pixel
units as t1 is.  Perturbed images are clipped to [0, 1] when ``clip`` is set.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .attacks import run_attack


def orthogonal_sign_direction(g1: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random +-1 (or 0) direction per example with <g1_i, g2_i> = 0 exactly."""
    flat = g1.flatten(1)
    n, d = flat.shape
    g2 = torch.randint(0, 2, (n, d), generator=generator).to(flat) * 2 - 1
    support = flat != 0
    # random order of the support pixels; first half agree with g1, second half disagree
    keys = torch.rand((n, d), generator=generator).to(flat.device)
    keys[~support] = 2.0  # off-support pixels last
    order = keys.argsort(dim=1)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(d, device=flat.device).expand(n, d))
    count = support.sum(1, keepdim=True)
    half = count // 2
    agree = rank < half
    disagree = (rank >= half) & (rank < 2 * half)
    g2 = torch.where(support & agree, flat, g2)
    g2 = torch.where(support & disagree, -flat, g2)
    g2 = torch.where(support & ~agree & ~disagree, torch.zeros_like(g2), g2)
    return g2.view_as(g1)


@torch.no_grad()
def _loss_sum(model, x, y) -> float:
    return float(F.cross_entropy(model(x), y, reduction="sum"))


def loss_surface(
    model,
    x,
    y,
    *,
    attack: str,
    attack_params: dict,
    t_max: float = 0.4,
    points: int = 21,
    seed: int = 0,
    clip: bool = True,
    directions: tuple[torch.Tensor, torch.Tensor] | None = None,
):
    """Returns (t values, surface[points, points] with surface[i, j] at t1=t[i], t2=t[j], g1, g2)."""
    if directions is None:
        x_adv = run_attack(model, x, y, attack, attack_params, batch_size=x.shape[0])
        g1 = (x_adv - x).sign()
        gen = torch.Generator().manual_seed(seed)
        g2 = orthogonal_sign_direction(g1.cpu(), gen).to(x.device)
    else:
        g1, g2 = directions
    t = torch.linspace(0.0, t_max, points)
    surface = torch.zeros(points, points)
    for i, t1 in enumerate(t.tolist()):
        for j, t2 in enumerate(t.tolist()):
            xp = x + t1 * g1 + t2 * g2
            if clip:
                xp = xp.clamp(0.0, 1.0)
            surface[i, j] = _loss_sum(model, xp, y)
    return t, surface, g1, g2


def surface_to_file(model, x, y, attack: str, eps: float, k, t_max, points, seed, clip, out):
    """:func:`loss_surface` under ``attack`` (IFGSM: ``k`` steps, default 10) saved as ``.npz``
    (``t`` and ``surface``); returns the surface."""
    import numpy as np

    from .provenance import atomic_path

    params = {"eps": eps} if attack == "fgsm" else {"eps": eps, "k": k or 10}
    t, surf, _, _ = loss_surface(
        model, x, y, attack=attack, attack_params=params, t_max=t_max, points=points, seed=seed, clip=clip
    )
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, t=t.numpy(), surface=surf.numpy())
    return surf
