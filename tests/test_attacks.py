"""FGSM and IFGSM against torchattacks on the same model and batch; bounds of every attack."""

import logging

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


class _Counting(torch.nn.Module):
    """``model`` that counts the examples it is run on."""

    def __init__(self, model):
        super().__init__()
        self.model, self.rows = model, 0

    def forward(self, x):
        self.rows += x.shape[0]
        return self.model(x)


def _fooled_by_any_restart(model, x, y, *, eps, k, restarts, seed=0):
    """PGD's robust accuracy by its definition: every restart run on the whole batch; an example
    counts as misclassified when any restart's last iterate misclassifies it."""
    gen = torch.Generator().manual_seed(seed)
    lo, hi = (x - eps).clamp(min=0), (x + eps).clamp(max=1)
    fooled = torch.zeros(len(y), dtype=torch.bool)
    for _ in range(restarts):
        xa = torch.clamp(x + (2 * torch.rand(x.shape, generator=gen) - 1) * eps, lo, hi)
        for _ in range(k):
            xa = xa.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(model(xa), y), xa)
            xa = torch.clamp(xa + 2.5 * eps / k * g.sign(), lo, hi)
        with torch.no_grad():
            fooled |= model(xa).argmax(1) != y
    return fooled


def test_pgd_restarts_attack_only_what_no_restart_fooled(natural_model, batch):
    """A later restart runs only on the examples every earlier one left correct: the same examples
    end misclassified as when every restart attacks all, a fooled example keeps the first restart
    that fooled it, and the passes shrink with what is left."""
    x, y = batch
    eps, k, restarts = 0.06, 5, 3
    counting = _Counting(natural_model)
    x_adv = pgd(counting, x, y, eps=eps, k=k, restarts=restarts)
    with torch.no_grad():
        fooled = natural_model(x_adv).argmax(1) != y
    assert torch.equal(fooled, _fooled_by_any_restart(natural_model, x, y, eps=eps, k=k, restarts=restarts))
    first = pgd(natural_model, x, y, eps=eps, k=k, restarts=1)
    with torch.no_grad():
        fooled_first = natural_model(first).argmax(1) != y
    assert 0 < int(fooled_first.sum()) < len(y)  # a batch some of which the first restart leaves
    assert torch.equal(x_adv[fooled_first], first[fooled_first])
    left = int((~fooled_first).sum())
    assert counting.rows <= (k + 1) * (len(y) + (restarts - 1) * left)


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


def test_autoattack_ta_runs_the_papers_iterations_and_is_torchattacks_at_ten(mnist, monkeypatch):
    """The cross-check AutoAttack is torchattacks' four attacks in a MultiAttack; at steps=10 it is
    exactly ``torchattacks.AutoAttack`` (which builds them with 10 iterations), and by default its
    APGD-CE, APGD-T and FAB-T run the paper's 100."""
    import torch
    import torchattacks

    from e2sad.attacks import ATTACKS
    from e2sad.attacks import autoattack_ta as autoattack

    torch.manual_seed(0)
    from e2sad.models import TableA1CNN

    model = TableA1CNN().eval()
    x, y = mnist["x_test"][:8], mnist["y_test"][:8]
    ref = torchattacks.AutoAttack(model, norm="Linf", eps=0.1, version="standard", n_classes=10, seed=0)(x, y)
    assert torch.equal(autoattack(model, x, y, eps=0.1, steps=10), ref)
    seen = []
    monkeypatch.setattr(torchattacks.MultiAttack, "forward", lambda self, a, b: seen.extend(self.attacks) or a)
    autoattack(model, x, y, eps=0.1)
    assert [type(a).__name__ for a in seen] == ["APGD", "APGDT", "FAB", "Square"]
    assert [a.steps for a in seen[:3]] == [100, 100, 100] and seen[3].n_queries == 5000
    assert ATTACKS["autoattack_ta"].params and "steps" in [p.name for p in ATTACKS["autoattack_ta"].params]


def test_autoattack_is_the_worst_case_within_the_ball(mnist):
    """The reference standard AutoAttack (pyautoattack), declared as an attack kind: its points stay
    in the eps-ball and [0, 1], and no point it leaves correct is one that APGD-CE alone breaks."""
    import torch

    from e2sad.attacks import ATTACKS, apgd_ce, autoattack
    from e2sad.evaluate import accuracy
    from e2sad.models import TableA1CNN

    torch.manual_seed(0)
    model = TableA1CNN().eval()
    x, y = mnist["x_test"][:8], mnist["y_test"][:8]
    x_aa = autoattack(model, x, y, eps=0.1)
    assert float((x_aa - x).abs().max()) <= 0.1 + 1e-6 and 0 <= float(x_aa.min()) and float(x_aa.max()) <= 1
    with torch.no_grad():
        aa_ok = model(x_aa).argmax(1) == y
        ce_ok = model(apgd_ce(model, x, y, eps=0.1)).argmax(1) == y
    assert not bool((aa_ok & ~ce_ok).any())
    assert accuracy(model, x_aa, y) <= accuracy(model, x, y)
    assert ATTACKS["autoattack"].fn is autoattack  # the declared kind the evaluation runs is this function


def test_autoattack_says_how_far_it_is_and_leaves_the_logger_as_it_was(mnist, capsys):
    """A standard AutoAttack on 1,000 images runs for minutes to an hour on a CPU: its own progress
    lines reach stderr, attack by attack, and its logger is left as found."""
    from e2sad.attacks import autoattack
    from e2sad.models import build_model

    torch.manual_seed(0)
    model = build_model("wong2020_mnist").eval()
    x = mnist["x_test"][:6]
    with torch.no_grad():
        y = model(x).argmax(1)  # every point correct: the attacks have work to do
    autoattack(model, x, y, eps=0.3)
    progress = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("[autoattack] ")]
    assert progress[:2] == ["[autoattack] initial accuracy: 100.00%", "[autoattack] running apgd-ce"], progress
    assert any(ln.startswith("[autoattack] robust accuracy after APGD-CE: ") for ln in progress), progress
    logger = logging.getLogger("auto-attack")
    assert logger.propagate and not logger.handlers and logger.level == logging.NOTSET


def test_an_attack_in_several_batches_says_how_far_it_is(mnist, capsys):
    from e2sad.attacks import run_attack
    from e2sad.models import build_model

    model = build_model("wong2020_mnist").eval()
    x, y = mnist["x_test"][:5], mnist["y_test"][:5]
    run_attack(model, x, y, "fgsm", {"eps": 0.1}, batch_size=2)
    lines = [ln.split(" | ")[0] for ln in capsys.readouterr().err.splitlines()]
    assert lines == [f"[fgsm] batch {b}/3 of 2" for b in (1, 2, 3)]
    run_attack(model, x, y, "fgsm", {"eps": 0.1}, batch_size=500)  # one batch: nothing to say
    assert capsys.readouterr().err == ""


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


def _reference_autoattacks(monkeypatch):
    """The pyautoattack.AutoAttack objects the reference kind builds, each run skipped."""
    import pyautoattack

    built = []

    def run(self, x, y, **_):
        built.append(self)
        return x.clone(), y

    monkeypatch.setattr(pyautoattack.AutoAttack, "run_standard_evaluation", run)
    return built


def test_reference_autoattack_is_the_standard_version_with_the_models_targets(monkeypatch):
    """pyautoattack's standard version: APGD-CE, APGD-T, FAB-T, Square (5,000 queries), 100 iterations,
    9 targets on 10 classes and one per other class on fewer; ``steps`` sets APGD's own schedule."""
    from e2sad.attacks import autoattack
    from e2sad.models import build_model

    built = _reference_autoattacks(monkeypatch)
    torch.manual_seed(0)
    for classes, steps in ((10, 100), (5, 7)):
        model = build_model("wong2020_mnist", classes=classes).eval()
        autoattack(model, torch.rand(2, 1, 28, 28), torch.tensor([0, 1]), eps=0.3, steps=steps, seed=3)
    ten, five = built
    assert ten.attacks_to_run == ["apgd-ce", "apgd-t", "fab-t", "square"] and ten.square.n_queries == 5000
    assert (ten.apgd.n_iter, ten.apgd_targeted.n_iter, ten.fab.n_iter, ten.seed) == (100, 100, 100, 3)
    assert (ten.apgd_targeted.n_target_classes, ten.fab.n_target_classes) == (9, 9)
    assert (five.apgd_targeted.n_target_classes, five.fab.n_target_classes) == (4, 4)
    assert (five.apgd.n_iter, five.apgd.n_iter_2, five.fab.n_iter) == (7, 1, 7)


def test_reference_autoattack_flags_reach_the_evaluation_row(mnist):
    """The checks of pyautoattack's checks.py are recorded on the row: a model whose outputs are a
    softmax is flagged ``softmax_outputs``; a model of logits is flagged nothing."""
    from e2sad.attacks import AA_CHECKS
    from e2sad.evaluate import evaluate
    from e2sad.models import build_model

    torch.manual_seed(0)
    logits = build_model("wong2020_mnist").eval()
    softmax = torch.nn.Sequential(logits, torch.nn.Softmax(dim=1)).eval()
    x = mnist["x_test"][:8]
    with torch.no_grad():
        wrong = (logits(x).argmax(1) + 1) % 10  # no point is correct: the checks run, the attacks have nothing left
    rows = {name: evaluate(m, x, wrong, "autoattack", {"eps": 0.3}, 4) for name, m in (("l", logits), ("s", softmax))}
    assert set(rows["l"]["aa_flags"]) == set(AA_CHECKS.values()) and not any(rows["l"]["aa_flags"].values())
    assert rows["s"]["aa_flags"]["softmax_outputs"] and rows["s"]["aa_messages"][0].startswith(
        "it seems that the output"
    )
    assert rows["l"]["accuracy"] == 0.0 and "aa_flags" not in evaluate(logits, x, wrong, "fgsm", {"eps": 0.3})


@pytest.mark.slow  # ~5 min on 2 shared CPU cores, most of it Square's 5,000 queries in both
def test_reference_and_torchattacks_autoattack_agree_on_a_trained_model(mnist):
    """On a small FGSM-RS model (Wong et al.'s network, 300 steps at eps 0.1) the reference AutoAttack
    and torchattacks' composition agree within the binomial noise of n (2 standard errors)."""
    from e2sad.attacks import autoattack, autoattack_ta
    from e2sad.defenses import fgsm_rs
    from e2sad.evaluate import accuracy
    from e2sad.models import build_model

    torch.manual_seed(0)
    model = build_model("wong2020_mnist")
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        idx = torch.randint(0, 60_000, (100,), generator=gen)
        loss = fgsm_rs(model, mnist["x_train"][idx], mnist["y_train"][idx], eps=0.1, alpha=0.125, generator=gen).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    n, eps = 100, 0.1
    x, y = mnist["x_test"][:n], mnist["y_test"][:n]
    ref = accuracy(model, autoattack(model, x, y, eps=eps, steps=20), y)
    ta = accuracy(model, autoattack_ta(model, x, y, eps=eps, steps=20), y)
    assert 0.3 < ref < accuracy(model, x, y)  # robust points exist: the comparison says something
    noise = 2 * (max(ref, ta) * (1 - max(ref, ta)) / n) ** 0.5
    assert abs(ref - ta) <= noise, (ref, ta, noise)
