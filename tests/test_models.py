import pytest
import torch

from e2sad.attacks import run_attack
from e2sad.modelfile import load_model, save_model
from e2sad.models import PerImageNormalize, TableA1CNN, TableA2CNN, build_model, n_parameters


def test_mnist_cnn_is_table_a1():
    m = TableA1CNN()
    assert n_parameters(m) == 3_274_634
    convs = [x for x in m.modules() if isinstance(x, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (1, 32, (5, 5), (1, 1), (2, 2)),
        (32, 64, (5, 5), (1, 1), (2, 2)),
    ]
    fcs = [x for x in m.modules() if isinstance(x, torch.nn.Linear)]
    assert [(f.in_features, f.out_features) for f in fcs] == [(3136, 1024), (1024, 10)]
    assert sum(isinstance(x, torch.nn.MaxPool2d) for x in m.modules()) == 2
    assert m(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_svhn_cnn_is_table_a2():
    m = TableA2CNN()
    convs = [x for x in m.modules() if isinstance(x, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (3, 32, (5, 5), (0, 0)),
        (32, 64, (5, 5), (0, 0)),
        (64, 128, (3, 3), (0, 0)),
    ]
    fcs = [x for x in m.modules() if isinstance(x, torch.nn.Linear)]
    assert [(f.in_features, f.out_features) for f in fcs] == [(3200, 512), (512, 10)]
    assert n_parameters(m) == 2432 + 51264 + 73856 + 3200 * 512 + 512 + 5130
    assert m(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_per_image_normalization_modes():
    x = torch.rand(4, 3, 32, 32)
    std = PerImageNormalize("per_image_std")(x).flatten(1)
    assert torch.allclose(std.mean(1), torch.zeros(4), atol=1e-5)
    assert torch.allclose(std.std(1, unbiased=False), torch.ones(4), atol=1e-4)
    mx = PerImageNormalize("per_image_maxabs")(x).flatten(1)
    assert float(mx.abs().max()) <= 1.0 + 1e-6
    assert torch.allclose(mx.abs().amax(1), torch.ones(4))
    assert torch.equal(PerImageNormalize("none")(x), x)


def _table_order(m, x, layers):
    """The forward in the appendix's own order (conv, ReLU, pool), from the model's own layers."""
    f = m.features
    h = m.normalize(x)
    for kind, i in layers:
        h = {
            "conv": lambda h, i=i: f[i](h),
            "relu": torch.relu,
            "pool": lambda h: torch.nn.functional.max_pool2d(h, 2),
        }[kind](h)
    return m.classifier(h)


def test_pool_before_relu_gives_the_tables_values_and_gradients():
    """The models pool before their ReLU (a quarter of the ReLU work); max and ReLU commute, so the
    logits and the input gradient are the appendix order's, bit for bit."""
    torch.manual_seed(0)
    cases = [
        (
            TableA1CNN(),
            torch.rand(16, 1, 28, 28),
            [("conv", 0), ("relu", 0), ("pool", 0), ("conv", 3), ("relu", 0), ("pool", 0)],
        ),
        (
            TableA2CNN(),
            torch.rand(8, 3, 32, 32),
            [("conv", 0), ("relu", 0), ("conv", 2), ("relu", 0), ("pool", 0), ("conv", 5), ("relu", 0), ("pool", 0)],
        ),
    ]
    for m, x, layers in cases:
        xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        a, b = m(xa), _table_order(m, xb, layers)
        assert torch.equal(a, b)
        (ga,) = torch.autograd.grad(a.logsumexp(1).sum(), xa)
        (gb,) = torch.autograd.grad(b.logsumexp(1).sum(), xb)
        assert torch.equal(ga, gb) and ga.abs().sum() > 0


def test_channels_last_trains_deterministically_and_as_the_default_order_within_rounding(mnist):
    """Same seed, channels_last: bit for bit.  Against the default order: the same weights up to
    float rounding (plain SGD on the clean loss; Adam's first steps and the attacks' sign() turn
    a rounding difference in a near-zero gradient into a full step, so they are not compared)."""
    from e2sad.train import train

    kw = dict(
        data={"x_train": mnist["x_train"][:1024], "y_train": mnist["y_train"][:1024]},
        dataset="mnist",
        steps=5,
        batch_size=32,
        progress_every=0,
        device="cpu",
    )
    fgsm = dict(defense="fgsm_at", hparams=dict(alpha=0.5, eps=0.3), **kw)
    a, _ = train(channels_last=True, **fgsm)
    b, _ = train(channels_last=True, **fgsm)
    assert a.features[3].weight.is_contiguous(memory_format=torch.channels_last)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    nat = dict(defense="natural", hparams={}, optimizer="sgd", lr=0.05, **kw)
    c, _ = train(channels_last=True, **nat)
    d, _ = train(channels_last=False, **nat)
    torch.manual_seed(0)  # the initialization train() draws for seed 0
    init = TableA1CNN().state_dict()
    sc, sd = c.state_dict(), d.state_dict()
    assert not all(torch.equal(sc[k], sd[k]) for k in sc)  # another summation order ...
    for k in sc:  # ... but the same steps up to float rounding
        moved = (sd[k] - init[k]).abs().max()
        assert 0 < moved < 0.05, k  # init is the one train() started from
        assert (sc[k] - sd[k]).abs().max() <= 1e-4 * max(float(moved), 1e-3), k


def test_first_conv_input_gradient_is_the_plain_layers_within_rounding(monkeypatch):
    """FirstConv2d's GEMM + shifted-adds input gradient equals nn.Conv2d's up to float rounding (in
    both memory orders, for MNIST's padded and an unpadded layer, Wong et al.'s strided one and a
    strided one whose stride does not divide the padded size), also as a function of the
    weights (double backward); its weight and bias gradients are nn.Conv2d's bit for bit; all
    deterministic; a parameters-only backward leaves the input gradient out."""
    from e2sad.models import FirstConv2d

    torch.manual_seed(0)
    for kernel, stride, padding, size in ((5, 1, 2, 28), (5, 1, 0, 20), (4, 2, 1, 28), (5, 3, 1, 27)):
        for channels_last in (False, True):
            fast = FirstConv2d(1, 32, kernel, stride=stride, padding=padding)
            plain = torch.nn.Conv2d(1, 32, kernel, stride=stride, padding=padding)
            plain.load_state_dict(fast.state_dict())
            if channels_last:
                fast, plain = (m.to(memory_format=torch.channels_last) for m in (fast, plain))
            x = torch.rand(8, 1, size, size)
            v = None
            grads = []
            for layer in (fast, fast, plain):
                xa = x.clone().requires_grad_(True)
                out = layer(xa)
                assert (type(out.grad_fn).__name__ == "_InputGradByGemmBackward") == (layer is fast)
                v = torch.linspace(-1, 1, out.numel()).view_as(out) if v is None else v
                gx, gw, gb = torch.autograd.grad(out.mul(v).sum(), [xa, layer.weight, layer.bias], create_graph=True)
                (gww,) = torch.autograd.grad(gx.square().sum(), layer.weight)  # through the input gradient
                grads.append([gx.detach(), gw, gb, gww])
            (fa, fb, pl) = grads
            assert all(torch.equal(a, b) for a, b in zip(fa, fb))  # deterministic
            assert torch.equal(fa[1], pl[1]) and torch.equal(fa[2], pl[2])  # oneDNN's own weight/bias grads
            for a, b in zip(fa, pl):
                assert a.shape == b.shape and b.abs().max() > 0
                assert (a - b).abs().max() <= 1e-5 * b.abs().max()
    # a parameters-only backward does not compute the input gradient (the input's does, once)
    calls = []
    mm = torch.mm
    monkeypatch.setattr(torch, "mm", lambda *a: calls.append(1) or mm(*a))
    layer, xa = FirstConv2d(1, 32, 5, padding=2), torch.rand(4, 1, 28, 28, requires_grad=True)
    torch.autograd.grad(layer(xa).sum(), layer.weight)
    assert calls == []
    torch.autograd.grad(layer(xa).sum(), xa)
    assert calls == [1]
    # the SVHN layer (3 channels) stays oneDNN's
    svhn = FirstConv2d(3, 32, 5)
    assert svhn(torch.rand(2, 3, 32, 32).requires_grad_(True)).grad_fn.name() == "ConvolutionBackward0"


def test_first_conv_input_gradient_under_bf16_autocast_is_the_plain_layers():
    """compute.precision: bf16 on the CPU: an attack step through the MNIST network (FirstConv2d's
    GEMM in bf16, the shifted adds in fp32) gives an fp32 input gradient equal to the plain layer's
    under the same autocast within bf16 rounding (it once failed on mixed dtypes), and a CPU bf16
    training with attacks runs."""
    from e2sad.attacks import loss_fn
    from e2sad.models import build_model

    torch.manual_seed(0)
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    for channels_last in (False, True):
        model = build_model("cnn_a1", channels_last=channels_last)
        grads = []
        for fast in (True, False):
            model.features[0].fast_input_grad = fast
            xa = x.clone().requires_grad_(True)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = loss_fn(model(xa), y)
            grads.append(torch.autograd.grad(loss, xa)[0])
        fast, plain = grads
        assert fast.dtype == plain.dtype == torch.float32 and plain.abs().max() > 0
        assert 0 < (fast - plain).abs().max() <= 2e-2 * plain.abs().max()
    # and a CPU bf16 training with an attack in every step runs (3 FGSM-AT steps of Adam, lr 1e-3):
    # weights a few Adam steps' worth away from the fp32 run's, not equal
    from e2sad.train import train

    data = {"x_train": torch.rand(32, 1, 28, 28), "y_train": torch.randint(0, 10, (32,))}
    kw = dict(data=data, dataset="mnist", defense="fgsm_at", hparams={"alpha": 0.5, "eps": 0.3}, steps=3)
    kw.update(batch_size=8, device="cpu", channels_last=True, merge_clean=True, progress_every=0)
    fp32, bf16 = (train(**kw, precision=p)[0].state_dict() for p in ("fp32", "bf16"))
    diff = max((fp32[k] - bf16[k]).abs().max().item() for k in fp32)
    assert all(torch.isfinite(bf16[k]).all() for k in bf16) and 0 < diff < 1e-2


@pytest.mark.slow
def test_compiled_training_step_gives_the_eager_weights_within_rounding(mnist):
    """compute.compile: the step through torch.compile (inductor, CPU) trains the same weights as the
    eager step up to float rounding (plain SGD, clean loss; see the channels_last test for why)."""
    from e2sad.train import train

    kw = dict(
        data={"x_train": mnist["x_train"][:512], "y_train": mnist["y_train"][:512]},
        dataset="mnist",
        defense="natural",
        hparams={},
        optimizer="sgd",
        lr=0.05,
        steps=3,
        batch_size=32,
        progress_every=0,
        device="cpu",
    )
    eager, _ = train(**kw)
    compiled, _ = train(compile_mode="default", **kw)
    torch.manual_seed(0)
    init = TableA1CNN().state_dict()
    se, sc = eager.state_dict(), compiled.state_dict()
    assert set(se) == set(sc)  # the module's own names (no _orig_mod prefix)
    for k in se:
        moved = (se[k] - init[k]).abs().max()
        assert 0 < moved and (sc[k] - se[k]).abs().max() <= 1e-4 * max(float(moved), 1e-3), k


def test_a_loaded_model_is_frozen_and_attacked_as_before(tmp_path):
    """load_model gives a model whose parameters take no gradient (evaluation needs the input's
    only), and an attack's examples on it are the same as on the same weights unfrozen."""
    torch.manual_seed(0)
    net = build_model("wong2020_mnist", "none", 1, 28, 10)
    save_model(net, tmp_path / "m.pt")
    model = load_model(tmp_path / "m.pt", "wong2020_mnist", "none", (1, 28, 28), 10)
    assert not any(p.requires_grad for p in model.parameters())
    x, y = torch.rand(16, 1, 28, 28), torch.arange(16) % 10
    frozen = run_attack(model, x, y, "pgd", {"eps": 0.3, "k": 5, "restarts": 2, "seed": 0})
    plain = run_attack(net.eval(), x, y, "pgd", {"eps": 0.3, "k": 5, "restarts": 2, "seed": 0})
    assert torch.equal(frozen, plain)
    assert all(p.grad is None for p in model.parameters())
