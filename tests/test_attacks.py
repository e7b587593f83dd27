"""FGSM and IFGSM against torchattacks on the same model and batch; bounds of every attack."""

import pytest
import torch

from e2sad.attacks import fgsm, ifgsm, pgd


@pytest.fixture(scope="module")
def batch(mnist):
    return mnist["x_test"][:200], mnist["y_test"][:200]


def test_fgsm_equals_torchattacks(natural_model, batch):
    import torchattacks

    x, y = batch
    ours = fgsm(natural_model, x, y, eps=0.3)
    theirs = torchattacks.FGSM(natural_model, eps=0.3)(x, y)
    assert float((ours - theirs).abs().max()) <= 1e-6
    assert float((ours - x).abs().max()) > 0.29  # it did move


@pytest.mark.parametrize("k", [1, 10])
def test_ifgsm_equals_torchattacks_bim(natural_model, batch, k):
    import torchattacks

    x, y = batch
    ours = ifgsm(natural_model, x, y, eps=0.3, k=k)
    theirs = torchattacks.BIM(natural_model, eps=0.3, alpha=0.3 / k, steps=k)(x, y)
    assert float((ours - theirs).abs().max()) <= 1e-6


@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_attacks_stay_in_ball_and_range(natural_model, batch, eps):
    x, y = batch
    for x_adv in (
        fgsm(natural_model, x, y, eps=eps),
        ifgsm(natural_model, x, y, eps=eps, k=5),
        pgd(natural_model, x, y, eps=eps, k=5, restarts=2),
    ):
        assert float((x_adv - x).abs().max()) <= eps + 1e-6
        assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0


def test_iterative_is_stronger_than_single_step(natural_model, batch):
    x, y = batch
    with torch.no_grad():
        acc = lambda xa: float((natural_model(xa).argmax(1) == y).float().mean())  # noqa: E731
        clean = acc(x)
        a_fgsm = acc(fgsm(natural_model, x, y, eps=0.1))
        a_ifgsm = acc(ifgsm(natural_model, x, y, eps=0.1, k=10))
        a_pgd = acc(pgd(natural_model, x, y, eps=0.1, k=10, restarts=2))
    assert clean > 0.9
    assert a_ifgsm <= a_fgsm
    assert a_pgd <= a_fgsm


def test_autoattack_runs_the_papers_iterations_and_is_torchattacks_at_ten(mnist, monkeypatch):
    """Our standard AutoAttack is torchattacks' four attacks in a MultiAttack; at steps=10 it is
    exactly ``torchattacks.AutoAttack`` (which builds them with 10 iterations), and by default its
    APGD-CE, APGD-T and FAB-T run the paper's 100."""
    import torch
    import torchattacks

    from e2sad.attacks import ATTACKS, autoattack

    torch.manual_seed(0)
    from e2sad.models import MnistCNN

    model = MnistCNN().eval()
    x, y = mnist["x_test"][:8], mnist["y_test"][:8]
    ref = torchattacks.AutoAttack(model, norm="Linf", eps=0.1, version="standard", n_classes=10, seed=0)(x, y)
    assert torch.equal(autoattack(model, x, y, eps=0.1, steps=10), ref)
    seen = []
    monkeypatch.setattr(torchattacks.MultiAttack, "forward", lambda self, a, b: seen.extend(self.attacks) or a)
    autoattack(model, x, y, eps=0.1)
    assert [type(a).__name__ for a in seen] == ["APGD", "APGDT", "FAB", "Square"]
    assert [a.steps for a in seen[:3]] == [100, 100, 100] and seen[3].n_queries == 5000
    assert ATTACKS["autoattack"].params and "steps" in [p.name for p in ATTACKS["autoattack"].params]


def test_autoattack_is_the_worst_case_within_the_ball(mnist):
    """torchattacks' standard AutoAttack, declared as an attack kind: its points stay in the
    eps-ball and [0, 1], and no point it leaves correct is one that APGD-CE alone breaks."""
    import torch

    from e2sad.attacks import ATTACKS, apgd_ce, autoattack
    from e2sad.evaluate import accuracy
    from e2sad.models import MnistCNN

    torch.manual_seed(0)
    model = MnistCNN().eval()
    x, y = mnist["x_test"][:8], mnist["y_test"][:8]
    x_aa = autoattack(model, x, y, eps=0.1)
    assert float((x_aa - x).abs().max()) <= 0.1 + 1e-6 and 0 <= float(x_aa.min()) and float(x_aa.max()) <= 1
    with torch.no_grad():
        aa_ok = model(x_aa).argmax(1) == y
        ce_ok = model(apgd_ce(model, x, y, eps=0.1)).argmax(1) == y
    assert not bool((aa_ok & ~ce_ok).any())
    assert accuracy(model, x_aa, y) <= accuracy(model, x, y)
    assert ATTACKS["autoattack"].fn is autoattack  # the declared kind the evaluation runs is this function


def test_apgd_t_takes_the_models_classes():
    """APGD-T targets every class of the model but the true one: 4 targets on a 5-class network
    (torchattacks' default is 10 classes, whose 6th target does not exist: an IndexError).  Points
    kept correct by a tiny eps go through every target.  (AutoAttack's targets: the 5-class
    pipeline of tests/test_dataset_classes.py; a run through all its targets and Square's 5,000
    queries takes minutes on a CPU.)"""
    from e2sad.attacks import apgd_t
    from e2sad.models import build_model

    torch.manual_seed(0)
    model = build_model("cnn_a1", "none", channels=1, size=24, classes=5).eval()
    x = torch.rand(4, 1, 24, 24)
    with torch.no_grad():
        y = model(x).argmax(1)
    x_adv = apgd_t(model, x, y, eps=1e-4, steps=2)
    assert x_adv.shape == x.shape and float((x_adv - x).abs().max()) <= 1e-4 + 1e-6


@pytest.mark.parametrize("attack", ["apgd_t", "autoattack"])
def test_targeted_attacks_on_too_few_classes_are_one_line(attack):
    from e2sad.attacks import ATTACKS
    from e2sad.errors import ConfigError
    from e2sad.models import build_model

    model = build_model("cnn_a1", "none", channels=1, size=8, classes=3).eval()
    with pytest.raises(ConfigError, match=rf"^{attack}: the model has 3 classes; APGD-T's targeted DLR loss needs"):
        ATTACKS[attack].fn(model, torch.rand(2, 1, 8, 8), torch.tensor([0, 2]), eps=0.1, steps=1)


def test_smoothed_targets_of_other_classes_than_the_model_are_one_line():
    from e2sad.attacks import loss_fn
    from e2sad.defenses import smooth_labels
    from e2sad.errors import ConfigError

    y = torch.tensor([0, 4])
    assert smooth_labels(y, 0.75, 5).shape == (2, 5) and float(smooth_labels(y, 0.75, 5)[0, 1]) == 0.0625
    with pytest.raises(ConfigError, match=r"^label-smoothed targets have 10 classes but the model has 5 outputs"):
        loss_fn(torch.zeros(2, 5), smooth_labels(y, 0.75, 10))
