import torch

from e2sad.models import MnistCNN, PerImageNormalize, SvhnCNN, n_parameters


def test_mnist_cnn_is_table_a1():
    m = MnistCNN()
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
    m = SvhnCNN()
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
