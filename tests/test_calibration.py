"""The calibration on a published result (config/calibration.yaml): Wong et al.'s MNIST network, their
FGSM-RS recipe and its choices where their paper and their code differ, and the plan that runs it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_study import merged, study

from e2sad.defenses import DEFENSES, fgsm_rs_point
from e2sad.models import NETWORKS, build_model, forward_flops, min_size, n_parameters, output_classes
from e2sad.train import lr_at

CALIBRATION = "config/calibration.yaml"


def test_wong2020_mnist_is_their_network_at_1_2_mflop():
    """MNIST/mnist_net.py: conv 16 4x4 s2 p1, conv 32 4x4 s2 p1, FC 100, FC 10 (no pooling)."""
    model = build_model("wong2020_mnist")
    assert "wong2020_mnist" in NETWORKS
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (16, (4, 4), (2, 2), (1, 1)),
        (32, (4, 4), (2, 2), (1, 1)),
    ]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [(32 * 7 * 7, 100), (100, 10)]
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert n_parameters(model) == 166_406
    flops = forward_flops(model, (1, 28, 28))
    assert flops == pytest.approx(1.2e6, rel=0.05)  # ~23x less than Table A.1's network
    assert 20 < forward_flops(build_model("cnn_a1"), (1, 28, 28)) / flops < 25
    assert output_classes(build_model("wong2020_mnist", classes=5).state_dict()) == 5
    assert min_size("wong2020_mnist") == 4 and build_model("wong2020_mnist", size=4)(torch.zeros(1, 1, 4, 4)).shape


def _their_fgsm_point(model, X, y, delta, eps, alpha):
    """MNIST/train_mnist.py's --attack fgsm, transcribed (read, not imported), from a given start delta."""
    delta = delta.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(model(X + delta), y).backward()
    grad = delta.grad.detach()
    d = torch.clamp(delta + alpha * torch.sign(grad), -eps, eps)
    d = torch.max(torch.min(1 - X, d), 0 - X)
    return torch.clamp(X + d, 0, 1).detach()


def test_fgsm_rs_defaults_to_their_mnist_code_and_declares_the_differences(mnist):
    torch.manual_seed(0)
    model = build_model("wong2020_mnist")
    x, y = mnist["x_train"][:50], mnist["y_train"][:50]
    eps, alpha = 0.3, 0.375
    seen = []
    hook = model.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].detach().clone()))
    ours, delta0 = fgsm_rs_point(model, x, y, eps=eps, alpha=alpha, generator=torch.Generator().manual_seed(1))
    hook.remove()
    theirs = _their_fgsm_point(model, x, y, delta0, eps, alpha)
    assert float((ours - theirs).abs().max()) <= 1e-6
    assert float(seen[0].min()) < -0.1  # the gradient is taken at X + delta as drawn, below 0 on the background
    decl = DEFENSES["fgsm_rs"]
    assert decl.param("start_clip").default == "none" and decl.param("step_clip").default == "ball_range"
    assert "train_mnist.py" in decl.param("start_clip").doc and "Algorithm 3" in decl.param("step_clip").doc

    gen = torch.Generator().manual_seed(1)
    seen.clear()
    hook = model.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].detach().clone()))
    fgsm_rs_point(model, x, y, eps=eps, alpha=alpha, start_clip="range", generator=gen)
    hook.remove()
    assert float(seen[0].min()) >= 0 and float(seen[0].max()) <= 1  # CIFAR10/train_fgsm.py's clipped start
    ball, _ = fgsm_rs_point(model, x, y, eps=eps, alpha=alpha, step_clip="ball", generator=torch.Generator())
    assert float((ball - x).abs().max()) <= eps + 1e-6 and float(ball.min()) < 0  # the paper: no [0, 1] range


def test_the_calibration_config_is_their_recipe():
    s = study(merged(CALIBRATION))
    cfg = s.study.config
    t = cfg["training"]["mnist"]
    assert cfg["data"]["mnist"]["network"] == "wong2020_mnist"
    assert cfg["seeds"] == [0, 1, 2, 3, 4]
    assert t["steps"] == 10 * 60_000 // t["batch_size"] and t["batch_size"] == 100 and t["optimizer"] == "adam"
    m = cfg["models"]["mnist_fgsm_rs_H"]
    assert (m["defense"], m["eps"], m["alpha"], m["start_clip"], m["step_clip"]) == (
        "fgsm_rs",
        0.3,
        0.375,
        "none",
        "ball_range",
    )
    # their schedule: np.interp(epoch + (i + 1) / 600, [0, 4, 10], [0, lr_max, 0]); ours is the same line
    # one step earlier (lr_at of step s is theirs of step s - 1)
    steps, per_epoch = t["steps"], 60_000 // t["batch_size"]
    for s_ in (0, 1, 1200, 2399, 2400, 4000, 5999):
        theirs = np.interp([s_ / per_epoch], [0, 10 * 2 // 5, 10], [0, t["lr"], 0])[0]
        assert lr_at(s_, steps, t["lr"], t["schedule"]) == pytest.approx(theirs, abs=1e-12), s_
    assert max(lr_at(k, steps, t["lr"], "cyclic") for k in range(steps)) == pytest.approx(5e-3)
    pgd = cfg["attacks"]["pgd50x10_0.3"]
    assert (pgd["k"], pgd["step"], pgd["restarts"], pgd["eps"]) == (50, 0.01, 10, 0.3)
    assert s.study.tables["calibration"]["attacks"] == ["clean", "pgd50x10_0.3"] and cfg["evaluation"]["n_test"] is None
    fr = s.study.frontier
    assert fr["n_test"] == 1000 and fr["robust"] == "autoattack_0.3"
    assert (
        s.study.attacks["autoattack_0.3"]["kind"] == "autoattack"
        and s.study.attacks["autoattack_ta_0.3"]["kind"] == "autoattack_ta"
    )
    assert s.study.frontier_trained() == ["mnist_fgsm_rs_H"]
    assert len(s.frontier.snapshot_inputs()) == 5 * 10 * 2  # every epoch (9 snapshots and the last), FGSM and PGD-20
    assert "--network wong2020_mnist" in s.commands.train_args("mnist_fgsm_rs_H")


VERDICT = "config/verdict.yaml"


def test_the_verdict_plan_spends_multiples_of_the_calibrated_recipe_and_trains_nothing_twice():
    """config/verdict.yaml: every frontier defense on Wong et al.'s network at x0.1 and x1 the cost
    of FGSM-RS by the calibrated recipe (6,000 steps of batch 100), plus the paper's equal-iterations
    protocol at one epoch; a derived model that trains as a declared one is that one; the published
    FGSM-RS point sits at the x1 budget's cost (same network, steps, batch)."""
    s = study(merged(VERDICT))
    fr = s.study.frontier
    assert s.study.config["data"]["mnist"]["network"] == "wong2020_mnist" and fr["robust"] == "autoattack_0.3"
    assert fr["budgets"] == [0.1, 1] and len(s.frontier.seeds()) >= 3 and fr["n_test"] >= 1000
    assert {s.study.models[m]["defense"] for m in fr["models"]} == {
        "natural", "fgsm_at", "ifgsm_at", "e2sad", "fgsm_rs", "pgd_at", "trades",
    }  # fmt: skip
    assert fr["attacks"] == ["clean", "fgsm_0.3", "ifgsm_0.3_k30", "pgd50x10_0.3", "autoattack_0.3"]
    unit = 6000 * s.cost.train_flops(fr["budget"]) / s.study.steps_of(fr["budget"])
    cells = s.study.cells
    for model, protocol, trained, multiple in cells:
        if protocol == "equal_cost":
            # each derived model spends its multiple of the unit in training FLOPs, to one step
            one_step = s.cost.train_flops(trained) / s.study.steps_of(trained)
            assert abs(s.cost.train_flops(trained) - multiple * unit) <= one_step / 2 + 1e-6, trained
        else:
            assert trained == model and s.study.steps_of(model) == 600 and multiple is None
    trained = s.study.frontier_trained()
    assert len(trained) == len(set(trained)) == 3 * 7 - 1  # FGSM-RS at x0.1 is its one-epoch declared model
    rs = {(p, b): t for m, p, t, b in cells if m == "mnist_fgsm_rs_H"}
    assert rs[("equal_cost", 0.1)] == rs[("equal_iterations", None)] == "mnist_fgsm_rs_H"
    assert s.study.steps_of(rs[("equal_cost", 1)]) == 6000
    [wong] = [p for p in s.specs.frontier_spec()["published"] if p["key"] == "wong2020_fgsm_rs"]
    assert wong["train_flops"] == pytest.approx(s.cost.train_flops(rs[("equal_cost", 1)]))
    assert set(wong["accuracies"]) == {"clean", "pgd50x10_0.3", "autoattack_0.3"}
    assert s.frontier.category() == "Verdict"
    seeds = {m: s.frontier.seeds_of(m) for m in trained}
    assert len(s.frontier.inputs()) == 5 * sum(map(len, seeds.values()))
    assert seeds["mnist_e2sad_S"] == seeds["mnist_ifgsm03_H"] == [0, 1, 2, 3, 4]  # fixed before the run
    assert seeds["mnist_pgd_at_H"] == [0, 1, 2]


def test_the_x4_overlay_adds_one_budget_and_reuses_every_verdict_model():
    """config/verdict-x4.yaml on top of the verdict: a third budget (x4 the unit) whose models
    each spend four times the calibrated recipe's training FLOPs, while every model the verdict
    trains is planned under the same name and command (a run reuses what is trained)."""
    base, x4 = study(merged(VERDICT)), study(merged(VERDICT, "config/verdict-x4.yaml"))
    assert x4.study.frontier["budgets"] == [0.1, 1, 4]
    assert x4.study.config["results"] == base.study.config["results"]
    old, new = base.study.frontier_trained(), x4.study.frontier_trained()
    assert set(old) < set(new)
    for m in old:
        assert x4.commands.train_args(m) == base.commands.train_args(m), m
    fr = x4.study.frontier
    unit = 6000 * x4.cost.train_flops(fr["budget"]) / x4.study.steps_of(fr["budget"])
    added = {t for m, p, t, b in x4.study.cells if p == "equal_cost" and b == 4}
    assert len(added) == len(fr["models"]) and added == set(new) - set(old)
    for t in added:
        one_step = x4.cost.train_flops(t) / x4.study.steps_of(t)
        assert abs(x4.cost.train_flops(t) - 4 * unit) <= one_step / 2 + 1e-6, t


def test_the_x4_preview_trains_exactly_the_x4_models_in_its_own_folder():
    """config/verdict-x4-preview.yaml (a preview of the x4 budget that fits one sitting): its models
    are the ones config/verdict-x4.yaml adds, each trained by the same command, at equal cost
    only, on seed 0, and on seeds 0-2 for e2SAD and FGSM-RS (the headline statement's pair, paired
    over the verdict's three seeds) and 0-1 for PGD-AT and TRADES, into a folder of its own (the
    verdict's results untouched)."""
    x4 = study(merged(VERDICT, "config/verdict-x4.yaml"))
    pre = study(merged(VERDICT, "config/verdict-x4-preview.yaml"))
    added = {t for m, p, t, b in x4.study.cells if p == "equal_cost" and b == 4}
    assert set(pre.study.frontier_trained()) == added
    declared = {t: m for m, p, t, b in x4.study.cells if t in added}
    more = {
        "mnist_e2sad_S": [0, 1, 2],
        "mnist_fgsm_rs_H": [0, 1, 2],
        "mnist_pgd_at_H": [0, 1],
        "mnist_trades_H": [0, 1],
    }
    for m in added:
        assert pre.commands.train_args(m) == x4.commands.train_args(m), m
        assert pre.frontier.seeds_of(m) == more.get(declared[m], [0]), m
    assert {p for m, p, t, b in pre.study.cells} == {"equal_cost"}
    assert pre.study.config["results"] != x4.study.config["results"]


def test_the_x4_alone_overlay_is_exactly_the_x4_cells_of_verdict_x4():
    """config/verdict-x4-alone.yaml: the models, commands and seeds config/verdict-x4.yaml declared
    for its x4 budget (seeds 0-2, 0-4 for e2SAD and IFGSM-AT), nothing else, in a folder of its own;
    the preview's models are among them (copying its folder reuses them)."""
    x4 = study(merged(VERDICT, "config/verdict-x4.yaml"))
    alone = study(merged(VERDICT, "config/verdict-x4-alone.yaml"))
    pre = study(merged(VERDICT, "config/verdict-x4-preview.yaml"))
    added = {t for m, p, t, b in x4.study.cells if p == "equal_cost" and b == 4}
    assert set(alone.study.frontier_trained()) == added
    for m in added:
        assert alone.commands.train_args(m) == x4.commands.train_args(m), m
        assert alone.frontier.seeds_of(m) == x4.frontier.seeds_of(m), m
        assert set(pre.frontier.seeds_of(m)) <= set(alone.frontier.seeds_of(m)), m
    assert sorted(map(len, (alone.frontier.seeds_of(m) for m in added))) == [3, 3, 3, 3, 3, 5, 5]
    note = alone.specs.frontier_spec()["note"]  # what the table and figure say of their models
    assert "each model's own iterations of batch 100" in note and "e2SAD 0, 1, 2, 3, 4" in note
    assert "600 iterations of batch 100" in study(merged(VERDICT)).specs.frontier_spec()["note"]
    assert {p for m, p, t, b in alone.study.cells} == {"equal_cost"}
    assert alone.study.config["results"] not in (x4.study.config["results"], pre.study.config["results"])


def test_the_x4_along_overlay_snapshots_the_x4_pair_as_trained_at_x4():
    """config/verdict-x4-along.yaml: e2SAD and FGSM-RS at x4 on seeds 0-2, each trained by the x4
    command plus the snapshot arguments only (the same training, kept every 2,400 steps and at its
    last), each snapshot under FGSM and PGD-20; its statements can decide catastrophic overfitting."""
    x4 = study(merged(VERDICT, "config/verdict-x4.yaml"))
    along = study(merged(VERDICT, "config/verdict-x4-along.yaml"))
    pair = {t for m, p, t, b in x4.study.cells if b == 4 and m in ("mnist_e2sad_S", "mnist_fgsm_rs_H")}
    assert set(along.study.frontier_trained()) == set(along.frontier.snapshotted()) == pair
    for m in pair:
        assert along.commands.train_args(m) == x4.commands.train_args(m), m
        assert along.commands.snapshot_args(m, 0).startswith("--snapshots ")
        assert x4.commands.snapshot_args(m, 0) == ""
        assert along.frontier.seeds_of(m) == [0, 1, 2]
        steps = along.study.steps_of(m)
        assert along.frontier.snapshot_steps(m) == [s for s in range(2400, steps, 2400)] + [steps]
    rs = next(t for t in pair if "fgsm_rs" in t)
    assert along.study.steps_of(rs) == 24000  # x4 the unit of 6,000 FGSM-RS steps
    n = sum(len(along.frontier.snapshot_steps(m)) for m in pair) * 3 * 2
    assert len(along.frontier.snapshot_inputs()) == n
    assert along.specs.snapshot_spec()["models"] == along.frontier.snapshotted()


def test_the_decide_overlay_adds_seeds_3_and_4_to_fgsm_rs_and_pgd_at_only():
    """config/verdict-decide.yaml (declared before its seeds ran): FGSM-RS and PGD-AT get seeds 3
    and 4 like e2SAD and IFGSM-AT, so both UNDECIDED statements pair over 5 seeds; nothing the
    verdict trains changes and no other model gains a seed."""
    base, more = study(merged(VERDICT)), study(merged(VERDICT, "config/verdict-decide.yaml"))
    old, new = base.study.frontier_trained(), more.study.frontier_trained()
    assert old == new  # the same models; only seeds are added
    for m in old:
        assert more.commands.train_args(m) == base.commands.train_args(m), m
        added = set(more.frontier.seeds_of(m)) - set(base.frontier.seeds_of(m))
        declared = next(d for d, p, t, b in base.study.cells if t == m)
        assert added == ({3, 4} if declared in ("mnist_fgsm_rs_H", "mnist_pgd_at_H") else set()), m
    assert {
        m: more.frontier.seeds_of(m) for m in ("mnist_e2sad_S", "mnist_ifgsm03_H", "mnist_fgsm_rs_H")
    } == dict.fromkeys(("mnist_e2sad_S", "mnist_ifgsm03_H", "mnist_fgsm_rs_H"), [0, 1, 2, 3, 4])
