"""The CNNs of the paper's appendix, exactly as Tables A.1 and A.2, and the MNIST network of the
fast adversarial training that followed it (Wong, Rice, Kolter 2020), for calibration.

A dataset's declaration names its network (:data:`NETWORKS`: ``cnn_a1`` for
Table A.1, ``cnn_a2`` for Table A.2, ``wong2020_mnist`` for Wong et al.'s) and input normalization; the input shape
and the number of classes come from the dataset, so the same network serves
MNIST, Fashion-MNIST or any other dataset of that shape (with the paper's
shapes, 28x28x1 and 32x32x3 with 10 classes, the layers are exactly the tables').

Both return logits; the softmax of the tables is applied inside the losses
(``F.cross_entropy``), which is numerically the same model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError


class PerImageNormalize(nn.Module):
    """SVHN preprocessing as a parameter-free first layer (paper, 3.3.2).

    "removing the mean and normalizing the pixel values with the standard
    deviation of all pixels in each image so that the normalized pixel values
    are within [-1, 1]".  Modes:

    - ``per_image_std``: (x - mean) / std over each image's pixels (all
      channels), i.e. TensorFlow's ``per_image_standardization`` (std floored at
      1/sqrt(#pixels)).  Values are not strictly within [-1, 1].
    - ``per_image_maxabs``: (x - mean) / max|x - mean|, which is within [-1, 1].
    - ``none``: the [0, 1] pixels as they are.

    Attacks act on the [0, 1] input, before this layer.
    """

    MODES = ("per_image_std", "per_image_maxabs", "none")

    def __init__(self, mode: str = "per_image_std"):
        super().__init__()
        if mode not in self.MODES:
            raise ConfigError(f"svhn normalization '{mode}' unknown, allowed: {', '.join(self.MODES)}")
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "none":
            return x
        flat = x.flatten(1)
        centered = flat - flat.mean(dim=1, keepdim=True)
        if self.mode == "per_image_std":
            floor = 1.0 / flat.shape[1] ** 0.5
            scale = centered.std(dim=1, unbiased=False, keepdim=True).clamp_min(floor)
        else:
            scale = centered.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)
        return (centered / scale).view_as(x)

    def extra_repr(self) -> str:
        return f"mode={self.mode}"


class _InputGradByGemm(torch.autograd.Function):
    """Identity on a convolution's output ``y = conv2d(x, W)`` (square stride, no dilation, one
    group) that adds the gradient to ``x`` as one GEMM and k*k shifted (strided) adds; ``W`` and
    the bias get theirs from ``y``'s own (oneDNN) node, only when the backward asks for them."""

    @staticmethod
    def forward(ctx, y, x, weight, stride, padding):
        ctx.save_for_backward(weight)
        ctx.x_shape, ctx.x_dtype, ctx.stride, ctx.padding = x.shape, x.dtype, stride, padding
        ctx.x_node = torch.autograd.graph.get_gradient_edge(x).node if x.requires_grad else None
        return y.view_as(y)

    @staticmethod
    def backward(ctx, grad_y):
        grad_x = None
        if ctx.needs_input_grad[1] and _engine_will_run(ctx.x_node):
            (weight,) = ctx.saved_tensors
            n, c_in, h, w = ctx.x_shape
            c_out, _, kh, kw = weight.shape
            ho, wo, s, p = grad_y.shape[2], grad_y.shape[3], ctx.stride, ctx.padding
            # dL/dx[c, s*y+i-p, s*x+j-p] = sum_o W[o, c, i, j] g[o, y, x]: one GEMM gives every
            # tap's plane (a view of channels_last gradients), each then added at its shift
            g = grad_y.permute(0, 2, 3, 1).reshape(-1, c_out)
            # the GEMM in y's dtype (bf16 under autocast, as oneDNN's own backward would be), the
            # shifted adds in x's
            wt = weight.reshape(c_out, -1).t().to(grad_y.dtype).contiguous()
            taps = torch.mm(wt, g.t()).view(c_in, kh, kw, n, ho, wo)
            # i + s*(ho-1) <= h + 2p - 1 for every tap i < kh: the padded plane holds every shift
            padded = grad_y.new_zeros(c_in, n, h + 2 * p, w + 2 * p, dtype=ctx.x_dtype)
            for i in range(kh):
                for j in range(kw):
                    padded[:, :, i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s] += taps[:, i, j]
            grad_x = padded[:, :, p : p + h, p : p + w].permute(1, 0, 2, 3)
        return grad_y, grad_x, None, None, None


def _engine_will_run(node) -> bool:
    """Whether the running backward needs ``node`` (False for the input when
    ``torch.autograd.grad``/``backward(inputs=...)`` asks for the parameters only)."""
    try:
        return node is not None and torch._C._will_engine_execute_node(node)
    except (AttributeError, RuntimeError):  # private API: without it, compute the gradient
        return node is not None


class FirstConv2d(nn.Conv2d):
    """A network's first convolution, the same layer and parameters as ``nn.Conv2d``.  With one
    input channel (MNIST, Fashion-MNIST) on the CPU, its input gradient (every attack step needs
    it) is computed as one GEMM plus k*k shifted adds (strided where the convolution is): oneDNN
    computes it as a transposed convolution with one output channel at ~4-7 GFLOP/s, 12 ms of a
    90 ms F + B_in at batch 64 on Table A.1's CNN (bench/README.md, roofline) and ~40 % of Wong et
    al.'s network's F + B_in (docs/performance.md, "CPU kernels").  With 3 input channels (SVHN)
    oneDNN is faster and is kept.  Equal to ``nn.Conv2d``'s gradient within float rounding;
    deterministic.  ``fast_input_grad = False`` gives the plain layer (bench/bench_training.py
    --plain-conv1, bench/variants.py's plain_conv1)."""

    fast_input_grad = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fast = self.fast_input_grad and self.in_channels == 1 and x.device.type == "cpu"
        fast = fast and self.stride[0] == self.stride[1] and self.padding[0] == self.padding[1]
        if not fast or self.dilation != (1, 1) or self.padding_mode != "zeros":
            return super().forward(x)
        y = F.conv2d(x.detach(), self.weight, self.bias, stride=self.stride, padding=self.padding)
        return _InputGradByGemm.apply(y, x, self.weight, self.stride[0], self.padding[0]) if x.requires_grad else y


class TableA1CNN(nn.Module):
    """Table A.1: conv 32 5x5 s1 p2, ReLU, maxpool 2; conv 64 5x5 s1 p2, ReLU,
    maxpool 2 (each ReLU computed after its pool: the same values); FC 1024, ReLU; FC ``classes``
    (the table's 10; softmax in the loss).  3,274,634 parameters on 28x28x1 MNIST.  The defaults
    are the table's shapes; :func:`build_model` passes the dataset's.  ``normalization``: see
    :class:`PerImageNormalize` (MNIST: none)."""

    def __init__(self, channels: int = 1, size: int = 28, classes: int = 10, normalization: str = "none"):
        super().__init__()
        self.normalize = PerImageNormalize(normalization)
        side = self.feature_side(size)
        # Pool before ReLU: max-pooling and ReLU commute (max is monotone), so the values are
        # Table A.1's exactly, with the ReLU on a quarter of the elements (~4-13% of a CPU step).
        # The convolutions keep their indices (features.0, features.3): model files are unchanged.
        self.features = nn.Sequential(
            FirstConv2d(channels, 32, 5, stride=1, padding=2),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(32, 64, 5, stride=1, padding=2),
            nn.MaxPool2d(2),
            nn.ReLU(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(side * side * 64, 1024),
            nn.ReLU(),
            nn.Linear(1024, classes),
        )

    @staticmethod
    def feature_side(size: int) -> int:
        """Side of the last feature map for ``size`` x ``size`` inputs (two 'same' convs, two pools)."""
        return size // 2 // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.normalize(x)))


class TableA2CNN(nn.Module):
    """Table A.2: conv 32 5x5 p0, ReLU; conv 64 5x5 p0, ReLU, maxpool 2;
    conv 128 3x3 p0, ReLU, maxpool 2; FC 512, ReLU; FC ``classes`` (the table's 10).
    1,771,594 parameters on 32x32x3 SVHN (plus the parameter-free per-image normalization in
    front).  The defaults are the table's shapes; :func:`build_model` passes the dataset's."""

    def __init__(self, normalization: str = "per_image_std", channels: int = 3, size: int = 32, classes: int = 10):
        super().__init__()
        self.normalize = PerImageNormalize(normalization)
        side = self.feature_side(size)
        self.features = nn.Sequential(
            FirstConv2d(channels, 32, 5),
            nn.ReLU(),
            nn.Conv2d(32, 64, 5),
            nn.MaxPool2d(2),  # pool before ReLU: the same values (see TableA1CNN)
            nn.ReLU(),
            nn.Conv2d(64, 128, 3),
            nn.MaxPool2d(2),
            nn.ReLU(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(side * side * 128, 512),
            nn.ReLU(),
            nn.Linear(512, classes),
        )

    @staticmethod
    def feature_side(size: int) -> int:
        """Side of the last feature map: convs 5, 5 and 3 without padding, a pool after the last two."""
        return ((size - 8) // 2 - 2) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.normalize(x)))


class Wong2020Mnist(nn.Module):
    """Wong, Rice, Kolter 2020 ("Fast is better than free"), the MNIST network of their released
    code (locuslab/fast_adversarial, ``MNIST/mnist_net.py``): conv 16 4x4 stride 2 padding 1, ReLU;
    conv 32 4x4 stride 2 padding 1, ReLU; FC 100, ReLU; FC ``classes``.  No pooling.  166,406
    parameters and ~1.2 MFLOP per forward on 28x28x1 MNIST (Table A.1's: 27.8, 23 times more).  Its
    published FGSM-RS numbers (clean 98.50 %, PGD-50 x 10 88.77 %, AutoAttack 82.88 %) are the
    engine's calibration (config/calibration.yaml).  The defaults are MNIST's shapes;
    :func:`build_model` passes the dataset's."""

    def __init__(self, channels: int = 1, size: int = 28, classes: int = 10, normalization: str = "none"):
        super().__init__()
        self.normalize = PerImageNormalize(normalization)
        side = self.feature_side(size)
        self.features = nn.Sequential(
            FirstConv2d(channels, 16, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 4, stride=2, padding=1),
            nn.ReLU(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(side * side * 32, 100),
            nn.ReLU(),
            nn.Linear(100, classes),
        )

    @staticmethod
    def feature_side(size: int) -> int:
        """Side of the last feature map: two 4x4 convolutions of stride 2 and padding 1 (28 -> 14 -> 7)."""
        return (((size - 2) // 2 + 1) - 2) // 2 + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.normalize(x)))


#: network name (a dataset's ``network:``) -> its module: the paper's appendix and Wong et al.'s
NETWORKS = {"cnn_a1": TableA1CNN, "cnn_a2": TableA2CNN, "wong2020_mnist": Wong2020Mnist}
NORMALIZATIONS = PerImageNormalize.MODES


def build_model(
    network: str,
    normalization: str = "none",
    channels: int = 1,
    size: int = 28,
    classes: int = 10,
    channels_last: bool = False,
) -> nn.Module:
    """The network named ``network`` (:data:`NETWORKS`), for inputs (channels, size, size).

    ``channels_last``: the weights (and so the activations) in NHWC memory order, which oneDNN's
    CPU convolutions run faster (``compute.channels_last``); the values differ from the default
    order by float rounding only (the summation order of the convolutions changes)."""
    if network not in NETWORKS:
        raise ConfigError(f"network {network!r} is not allowed; allowed: {', '.join(NETWORKS)}")
    check_input(network, channels, size, classes)
    model = NETWORKS[network](channels=channels, size=size, classes=classes, normalization=normalization)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def min_size(network: str) -> int:
    """The smallest image side ``network`` takes (its last feature map at least 1x1)."""
    side = NETWORKS[network].feature_side
    return next(s for s in range(1, 1024) if side(s) >= 1)


def check_input(network: str, channels: int, size: int, classes: int) -> None:
    """A dataset's shape (``channels``, ``size``, ``classes``) for ``network``: one line when the
    network cannot take it (images smaller than its convolutions and pools leave, fewer than 2
    classes); any number of channels and classes is taken."""
    if size < min_size(network):
        raise ConfigError(
            f"network {network} needs images of at least {min_size(network)}x{min_size(network)}; "
            f"the dataset's are {size}x{size}"
        )
    if classes < 2:
        raise ConfigError(f"network {network}: {classes} class(es); a classifier needs at least 2")


def output_classes(state: dict) -> int:
    """The number of classes of a saved network (:func:`e2sad.modelfile.save_model`): the rows of the
    weight of its last linear layer (the last 2-D tensor of both networks' state dicts)."""
    weights = [v for v in state.values() if getattr(v, "ndim", 0) == 2] if isinstance(state, dict) else []
    if not weights:
        raise ConfigError("not a state_dict of a network of e2sad.models (no linear layer)")
    return int(weights[-1].shape[0])


def forward_flops(model: nn.Module, shape: tuple[int, int, int]) -> int:
    """FLOPs (2 per multiply-add) of the convolutions and linear layers of one forward of one image
    of ``shape`` (C, H, W) (one zero image through the model); the rest of the forward
    (ReLU, pooling) is a small fraction and not counted, as in bench/project.py."""
    total = 0

    def hook(mod, inputs, out):
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            total += 2 * out.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
        elif isinstance(mod, nn.Linear):
            total += 2 * out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, *shape, device=next(model.parameters()).device))
    for h in handles:
        h.remove()
    return total


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
