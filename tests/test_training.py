"""Real, small training on the real MNIST: accuracy, robustness, determinism, resumption."""

import pytest
import torch

from e2sad.attacks import fgsm
from e2sad.evaluate import accuracy
from e2sad.train import Recipe, RunOptions, SeededBatches, train


def _test_set(mnist, n=2000):
    return mnist["x_test"][:n], mnist["y_test"][:n]


def test_natural_reaches_95_percent(natural_model, mnist):
    x, y = _test_set(mnist)
    acc = accuracy(natural_model, x, y)
    assert acc >= 0.95, acc


def test_fgsm_training_beats_natural_under_fgsm(natural_model, mnist):
    x, y = _test_set(mnist, 1000)
    robust, _ = train(
        data=mnist,
        dataset="mnist",
        defense="fgsm_at",
        hparams={"alpha": 0.5, "eps": 0.3},
        steps=200,
        batch_size=64,
        seed=0,
        progress_every=0,
    )
    acc_nat = accuracy(natural_model, fgsm(natural_model, x, y, eps=0.3), y)
    acc_rob = accuracy(robust, fgsm(robust, x, y, eps=0.3), y)
    assert acc_rob > acc_nat + 0.3, (acc_rob, acc_nat)
    assert accuracy(robust, x, y) > 0.85


def _small(mnist):
    return {"x_train": mnist["x_train"][:2048], "y_train": mnist["y_train"][:2048]}


def _equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_same_seed_same_weights_and_other_seed_differs(mnist):
    kw = dict(
        data=_small(mnist),
        dataset="mnist",
        defense="e2sad",
        steps=6,
        batch_size=32,
        progress_every=0,
        hparams=dict(alpha=0.2, lam=0.1, eps1=0.3, eps2=0.1, second_step="random_start"),
        smoothing=0.75,
    )
    a, _ = train(seed=1, **kw)
    b, _ = train(seed=1, **kw)
    c, _ = train(seed=2, **kw)
    assert _equal(a, b)
    assert not _equal(a, c)


@pytest.mark.parametrize(
    "defense,hparams,schedule",
    [
        ("fgsm_at", {"alpha": 0.5, "eps": 0.3}, "constant"),
        ("fgsm_rs", {"eps": 0.3, "alpha": 0.375}, "cyclic"),  # a step's own draws and the schedule resume too
    ],
)
def test_resume_after_interrupt_gives_same_weights(mnist, tmp_path, defense, hparams, schedule):
    kw = dict(
        data=_small(mnist),
        dataset="mnist",
        defense=defense,
        hparams=hparams,
        schedule=schedule,
        steps=12,
        batch_size=32,
        seed=3,
        progress_every=0,
        ckpt_every=4,
    )
    full, _ = train(**kw)
    ckpt = tmp_path / "ckpt.pt"
    _, part = train(ckpt_path=ckpt, stop_after=5, **kw)  # dies after step 5; checkpoint at step 5
    assert part["steps_done"] == 5 and ckpt.exists()
    resumed, summary = train(ckpt_path=ckpt, **kw)
    assert summary["resumed_from"] == 5
    assert _equal(full, resumed)


def test_checkpoint_of_other_settings_is_ignored(mnist, tmp_path):
    kw = dict(
        data=_small(mnist),
        dataset="mnist",
        defense="natural",
        hparams={},
        batch_size=32,
        progress_every=0,
        ckpt_every=2,
    )
    ckpt = tmp_path / "ckpt.pt"
    train(ckpt_path=ckpt, steps=6, seed=0, stop_after=3, **kw)
    _, summary = train(ckpt_path=ckpt, steps=6, seed=1, **kw)  # another seed: must start afresh
    assert summary["resumed_from"] == 0


def test_training_moves_loss_values_to_python_only_every_log_every_steps(mnist, monkeypatch):
    """No per-step host sync: in 20 steps with log_every 10, the training code converts a tensor
    to a Python value twice (once per window), not once per step and term; the log still has a
    row per step, equal to the per-step values."""
    import sys

    import torch

    from e2sad.train import train

    calls = []

    def counting(name):
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, **kwargs):
            if "/e2sad/" in sys._getframe(1).f_code.co_filename:
                calls.append(name)
            return original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, wrapper)

    for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
        counting(name)
    kw = dict(data=mnist, dataset="mnist", defense="e2sad", steps=20, batch_size=16, seed=0, progress_every=0)
    hp = dict(alpha=0.2, lam=0.1, eps1=0.3, eps2=0.1, second_step="entropy")
    _, summary = train(hparams=hp, log_every=10, **kw)
    assert calls == ["tolist", "tolist"], calls
    rows = summary["log_rows"]
    assert [r["step"] for r in rows] == list(range(1, 21)) and {"loss", "dissim", "g2_abs"} <= set(rows[0])
    monkeypatch.undo()
    _, every_step = train(hparams=hp, log_every=1, **kw)
    assert [r["loss"] for r in every_step["log_rows"]] == [r["loss"] for r in rows]


def test_labels_are_smoothed_over_the_datasets_classes(mnist):
    """Label smoothing (section 3.2.4) spreads 1 - delta over the data's other classes, not over
    ten: a five-class dataset trains with smoothed targets of five entries."""
    data = {"x_train": mnist["x_train"][:256], "y_train": mnist["y_train"][:256] % 5, "classes": 5}
    recipe = Recipe(dataset="five", defense="fgsm_at", hparams={"alpha": 0.5, "eps": 0.3}, steps=2, batch_size=32)
    smoothed = Recipe(**{**recipe.__dict__, "smoothing": 0.75})
    _, y = SeededBatches(data["x_train"], data["y_train"], smoothed, classes=5).draw(0)
    assert y.shape == (32, 5) and torch.allclose(y.sum(1), torch.ones(32))
    assert set(y.flatten().tolist()) == {0.75, 0.0625}
    model, summary = train(data=data, recipe=smoothed, options=RunOptions(progress_every=0))
    assert model(data["x_train"][:4]).shape == (4, 5) and summary["steps_done"] == 2


def test_a_batch_depends_only_on_seed_and_step(mnist):
    """The seeded minibatch of a step is the same whether the steps before it were drawn or not
    (what lets a resumed run see the batches of the uninterrupted one); another seed, another order."""
    x, y = mnist["x_train"][:100], mnist["y_train"][:100]
    recipe = Recipe(dataset="mnist", defense="natural", hparams={}, steps=10, batch_size=30, seed=4)
    walked = SeededBatches(x, y, recipe, classes=10)
    batches = [walked.draw(step) for step in range(8)]  # 3 batches per epoch: steps 0-2, 3-5, 6-8
    for step in (0, 4, 7):
        fresh = SeededBatches(x, y, recipe, classes=10).draw(step)
        assert torch.equal(fresh[0], batches[step][0]) and torch.equal(fresh[1], batches[step][1])
    assert not torch.equal(batches[0][1], batches[3][1])  # each epoch its own order
    other = SeededBatches(x, y, Recipe(**{**recipe.__dict__, "seed": 5}), classes=10).draw(0)
    assert not torch.equal(other[1], batches[0][1])


def test_recipe_and_options_are_the_keywords_of_train(mnist):
    """``train(recipe=..., options=...)`` is ``train(**their fields)``; a keyword that is neither's
    field is refused; the run hash is the recipe's only (options such as logging leave it alone)."""
    data = _small(mnist)
    fields = dict(dataset="mnist", defense="natural", hparams={}, steps=3, batch_size=16, seed=2)
    a, sa = train(data=data, progress_every=0, log_every=1, **fields)
    b, sb = train(data=data, recipe=Recipe(**fields), options=RunOptions(progress_every=0, log_every=3))
    assert _equal(a, b) and sa["run_hash"] == sb["run_hash"] and sa["values"] == sb["values"]
    with pytest.raises(TypeError, match="learning_rate"):
        train(data=data, learning_rate=0.1, **fields)
