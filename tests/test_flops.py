"""Training FLOPs (e2sad/flops.py): each pass kind counted by torch's FLOP counter agrees with a
hand count (2 per multiply-add) on tiny networks and on the study's networks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from e2sad.defenses import step_flops
from e2sad.flops import PASS_KINDS, network_pass_flops, pass_flops
from e2sad.models import build_model, forward_flops


def test_one_linear_layer_by_hand():
    """y = W x on 6 inputs, 4 outputs: the forward, the input gradient W^T g and the weight
    gradient g x^T are one 4 x 6 product each (2 x 24 FLOPs per image); Hamm's weight backward
    differentiates the input gradient W^T g(W) w.r.t. W (twice: through W and through g) on top of
    the weight gradient."""
    mac = 6 * 4
    got = pass_flops(nn.Sequential(nn.Flatten(), nn.Linear(6, 4)), (1, 2, 3))
    assert got == {"F": 2 * mac, "B_in": 2 * mac, "B_w": 2 * mac, "B_xw": 4 * mac, "B_inc": 2 * mac, "DB_w": 6 * mac}


def test_a_convolution_and_a_linear_layer_by_hand():
    """conv 1 -> 2 channels 3x3 'same' on 5x5 (9 multiply-adds for each of 50 outputs), ReLU, FC
    50 -> 3: the weight backward computes both weight gradients and the FC's input gradient, not
    the convolution's (nothing below it needs it); with the input, the convolution's too."""
    conv, fc = 50 * 9, 50 * 3
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(50, 3))
    got = pass_flops(net, (1, 5, 5))
    f = 2 * (conv + fc)
    b_w = 2 * (conv + fc + fc)
    assert got["F"] == got["B_in"] == got["B_inc"] == f
    assert got["B_w"] == b_w and got["B_xw"] == b_w + 2 * conv
    # Hamm: the weight backward of the forward graph (B_w) and, through the create_graph input
    # backward, each layer's input-gradient product differentiated w.r.t. its weight and its input
    assert got["DB_w"] == b_w + 2 * f


@pytest.mark.parametrize("network,shape", [("wong2020_mnist", (1, 28, 28)), ("cnn_a1", (1, 28, 28))])
def test_the_networks_passes(network, shape):
    """On the study's networks (their first convolution's input gradient by GEMM included): F is
    the forward's FLOPs, B_in one more of them, B_w twice less the first convolution's, B_xw twice,
    DB_w two forwards on top of a B_w."""
    model = build_model(network, "none", shape[0], shape[1], 10)
    conv1 = model.features[0]
    side = conv1(torch.zeros(1, *shape)).shape[-1]
    first = 2 * conv1.out_channels * side * side * shape[0] * conv1.kernel_size[0] * conv1.kernel_size[1]
    got = network_pass_flops(network, shape[0], shape[1], 10)
    assert set(got) == set(PASS_KINDS)
    f = forward_flops(model, shape)
    assert got["F"] == got["B_in"] == got["B_inc"] == f
    assert got["B_w"] == 2 * f - first and got["B_xw"] == 2 * f and got["DB_w"] == 2 * f + got["B_w"]
    assert network_pass_flops(network, shape[0], shape[1], 10) is got  # counted once per process


def test_a_steps_flops_are_its_declared_passes():
    """FGSM-RS (2 F + B_in + B_w) on Wong et al.'s network: ~6 MFLOP per image, 4.9 forwards' FLOPs."""
    flops = network_pass_flops("wong2020_mnist", 1, 28, 10)
    step = step_flops("fgsm_rs", {"eps": 0.3, "alpha": 0.375}, flops)
    assert step == 2 * flops["F"] + flops["B_in"] + flops["B_w"]
    assert 4.8 < step / flops["F"] < 5.0
