"""Training FLOPs: the floating-point operations of each kind of pass a training step declares
(:func:`e2sad.defenses.step_passes`), counted on the network itself by
:class:`torch.utils.flop_counter.FlopCounterMode` (2 per multiply-add of the convolutions and matrix
products, forward and backward; ReLU, pooling, the loss and the optimizer are not counted, as in
:func:`e2sad.models.forward_flops`).  Each pass is counted as what it computes:

- ``F``: the forward;
- ``B_in``: the backward to the input only (``autograd.grad(J, x)``: every layer's input gradient,
  no weight gradient);
- ``B_w``: the backward to the weights (``autograd.grad(J, params)`` with the input not requiring
  grad: every layer's weight gradient, and the input gradient of every layer but the first, which
  the weight gradients below it need);
- ``B_xw``: one backward to the input and the weights together (``compute.merge_clean``);
- ``B_inc``: ``B_in`` with ``create_graph`` (Hamm's differentiable input gradient);
- ``DB_w``: Hamm's weight backward of J(x_adv) + a norm of the ``B_inc`` gradient: through the
  double-backward graph and the adversarial forward graph (bench/README.md, "Passes and floors").

These replace the time weights (:data:`e2sad.defenses.PASS_TIME_WEIGHTS`) wherever a cost is
compared: the frontier's equal-cost budgets, its cost column and axis.
"""

from __future__ import annotations

from functools import cache

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .models import build_model

#: the pass kinds a training step declares (:func:`e2sad.defenses.step_passes`)
PASS_KINDS = ("F", "B_in", "B_w", "B_xw", "B_inc", "DB_w")


def _counted(fn) -> int:
    """FLOPs of the convolutions and matrix products ``fn()`` runs."""
    with FlopCounterMode(display=False) as mode:
        fn()
    return mode.get_total_flops()


def pass_flops(model: nn.Module, shape: tuple[int, int, int], batch: int = 2) -> dict[str, float]:
    """FLOPs of one image's pass of each kind (:data:`PASS_KINDS`) through ``model`` on inputs of
    ``shape`` (C, H, W): each pass counted alone on a batch of ``batch``, divided by ``batch``."""
    params = [p for p in model.parameters() if p.requires_grad]
    device = params[0].device
    y = torch.zeros(batch, dtype=torch.long, device=device)

    def loss(x):
        return F.cross_entropy(model(x), y)

    def x_in(grad: bool):
        return torch.full((batch, *shape), 0.5, device=device).requires_grad_(grad)

    def backward(targets: str, create_graph: bool = False):
        x = x_in(targets != "w")
        j = loss(x)
        wrt = {"x": [x], "w": params, "xw": [x, *params]}[targets]
        return _counted(lambda: torch.autograd.grad(j, wrt, create_graph=create_graph))

    def double_backward():
        x = x_in(True)
        j = loss(x)
        g = torch.autograd.grad(j, x, create_graph=True)[0]
        total = j + g.flatten(1).norm(p=1, dim=1).mean()
        return _counted(lambda: torch.autograd.grad(total, params))

    counts = {
        "F": _counted(lambda: loss(x_in(False))),
        "B_in": backward("x"),
        "B_w": backward("w"),
        "B_xw": backward("xw"),
        "B_inc": backward("x", create_graph=True),
        "DB_w": double_backward(),
    }
    return {k: v / batch for k, v in counts.items()}


@cache
def network_pass_flops(network: str, channels: int, size: int, classes: int) -> dict[str, float]:
    """:func:`pass_flops` of the network named ``network`` (:data:`e2sad.models.NETWORKS`) on
    (``channels``, ``size``, ``size``) images and ``classes`` classes, counted once per process
    (the input normalization has no counted operation)."""

    return pass_flops(build_model(network, "none", channels, size, classes), (channels, size, size))
