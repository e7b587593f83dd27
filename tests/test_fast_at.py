"""The fast adversarial training methods that followed e2SAD (FGSM-RS, PGD-AT, TRADES): each
one loss function and its declaration; here their defining properties, and the learning-rate
schedules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from e2sad.attacks import loss_fn
from e2sad.defenses import DEFENSES, fgsm_rs_point, pgd_point, step_time, trades, trades_kl
from e2sad.models import TableA1CNN
from e2sad.train import lr_at, train


@pytest.fixture(scope="module")
def batch(mnist):
    return mnist["x_train"][:64], mnist["y_train"][:64]


def test_fgsm_rs_starts_uniform_in_the_ball_and_stays_inside(batch):
    x, y = batch
    torch.manual_seed(0)
    model = TableA1CNN()
    eps, alpha = 0.3, 0.375
    gen = torch.Generator().manual_seed(1)
    x_adv, delta0 = fgsm_rs_point(model, x, y, eps=eps, alpha=alpha, generator=gen)
    assert float(delta0.min()) >= -eps and float(delta0.max()) <= eps
    # U[-eps, eps]: mean 0, std eps / sqrt(3), over 50,176 pixels
    assert abs(float(delta0.mean())) < 0.005 and abs(float(delta0.std()) - eps / 3**0.5) < 0.005
    assert float((x_adv - x).abs().max()) <= eps + 1e-6
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    # the FGSM step moved the point: alpha > eps, so most pixels end on the ball's faces or [0, 1]
    # (~80 % from the unclipped start of their MNIST code, the default: a start below 0 may stop inside)
    on_face = ((x_adv - x).abs() > eps - 1e-6) | (x_adv == 0) | (x_adv == 1)
    assert float(on_face.float().mean()) > 0.75


def test_pgd_point_stays_in_the_ball_and_raises_the_loss(batch):
    x, y = batch
    torch.manual_seed(0)
    model = TableA1CNN()
    x_adv = pgd_point(model, x, y, eps=0.3, k=10, step=0.05, generator=torch.Generator().manual_seed(0))
    assert float((x_adv - x).abs().max()) <= 0.3 + 1e-6
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    with torch.no_grad():
        assert float(loss_fn(model(x_adv), y)) > float(loss_fn(model(x), y))


def test_trades_kl_term_is_zero_when_the_prediction_does_not_move(batch):
    x, y = batch
    constant = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    nn.init.zeros_(constant[1].weight)  # f(x') = f(x) for every x'
    step = trades(constant, x, y, beta=1.0, eps=0.3, k=3, step=0.1, generator=torch.Generator().manual_seed(0))
    assert float(step.terms["kl"]) == pytest.approx(0.0, abs=1e-6)
    assert torch.allclose(step.loss, loss_fn(constant(x), y))
    torch.manual_seed(0)
    model = TableA1CNN()
    step = trades(model, x, y, beta=1.0, eps=0.3, k=3, step=0.1, generator=torch.Generator().manual_seed(0))
    assert float(step.terms["kl"]) > 0
    assert float(trades_kl(model(x), model(x)).detach()) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    "defense,hp",
    [
        ("fgsm_rs", {"eps": 0.3, "alpha": 0.375}),
        ("pgd_at", {"eps": 0.3, "k": 3, "step": 0.1}),
        ("trades", {"beta": 1.0, "eps": 0.3, "k": 3, "step": 0.1}),
    ],
)
def test_each_trains_deterministically_with_a_cyclic_schedule(mnist, defense, hp):
    kw = dict(data=mnist, dataset="mnist", defense=defense, hparams=hp, steps=4, batch_size=16, progress_every=0)
    a, sa = train(seed=3, schedule="cyclic", lr=5e-3, **kw)
    b, _ = train(seed=3, schedule="cyclic", lr=5e-3, **kw)
    c, sc = train(seed=3, **kw)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))
    assert sa["values"]["schedule"] == "cyclic" and "schedule" not in sc["values"]
    assert sa["run_hash"] != sc["run_hash"]
    assert step_time(defense, hp) > step_time("natural", {})


def test_learning_rate_schedules():
    assert lr_at(0, 100, 5e-3, "cyclic") == 0.0
    assert lr_at(40, 100, 5e-3, "cyclic") == pytest.approx(5e-3)
    assert lr_at(70, 100, 5e-3, "cyclic") == pytest.approx(2.5e-3)
    assert lr_at(99, 100, 5e-3, "cyclic") < 1e-4
    assert [lr_at(s, 100, 1.0, "piecewise") for s in (0, 49, 50, 74, 75, 99)] == [1, 1, 0.1, 0.1, 0.01, 0.01]
    # TRADES' MNIST decays (train_trades_mnist.py: x0.1 from epoch 55, x0.01 from 75, x0.001 from 90 of 100)
    trades = [lr_at(e * 469, 100 * 469, 1.0, "trades") for e in (0, 54, 55, 74, 75, 89, 90, 99)]
    assert trades == [1, 1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    assert lr_at(57, 100, 1e-3) == 1e-3


@pytest.mark.parametrize(
    "name,hp",
    [
        ("fgsm_rs", {"eps": 0.3, "alpha": 0.375}),
        ("pgd_at", {"eps": 0.3, "k": 2, "step": 0.1}),
        ("trades", {"beta": 1.0, "eps": 0.3, "k": 2, "step": 0.1}),
    ],
)
def test_each_random_start_is_declared_and_drawn_from_the_steps_generator(batch, name, hp):
    """Declared ``random`` (so training hands each step a generator seeded with (seed, step)), and
    every draw comes from that generator: the same seed gives the same loss, another seed
    another, and the global RNG is not touched (a resumed run draws what an uninterrupted one drew)."""
    x, y = batch
    torch.manual_seed(0)
    model = TableA1CNN()
    decl = DEFENSES[name]
    assert decl.extra["random"](hp)
    state = torch.get_rng_state()

    def loss(seed):
        return decl.fn(model, x, y, generator=torch.Generator().manual_seed(seed), **hp).loss.detach()

    assert torch.equal(loss(1), loss(1)) and not torch.equal(loss(1), loss(2))
    assert torch.equal(torch.get_rng_state(), state)
