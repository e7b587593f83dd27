"""Trained or not, decided per model and seed (issue 30 item 1): a network stuck at chance, made on
purpose, can never count as robust; the frontier's table, statements and paired differences leave
its seeds out and say so."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from helpers_data import smoke_config
from test_frontier import _rows_and_costs
from test_study import study

from e2sad.attacks import run_attack
from e2sad.evaluate import accuracy
from e2sad.models import build_model
from e2sad.science import frontier_statements, frontier_table, intervals
from e2sad.science.intervals import paired_difference, wilson
from e2sad.science.trained import clean_floor, did_it_train, final_loss, loss_ceiling


def stuck_model(answer: int, classes: int = 10) -> torch.nn.Module:
    """The Table A.1 network with its last layer zeroed and one bias up: it answers ``answer`` for
    every image, as PGD-AT stuck at chance does (loss ln 10 for every step)."""
    model = build_model("cnn_a1", "none", 1, 28, classes).eval()
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        last.bias[answer] = 0.1  # argmax is `answer`; the loss stays near ln(classes)
    return model


def test_a_stuck_model_keeps_its_class_share_under_attack_and_is_not_trained():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(200, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (200,), generator=gen)
    model = stuck_model(answer=1)
    share = float((y == 1).float().mean())
    clean = accuracy(model, x, y)
    attacked = accuracy(model, run_attack(model, x, y, "pgd", {"eps": 0.3, "k": 10, "step": 0.03}), y)
    assert clean == pytest.approx(share) and attacked == pytest.approx(share)  # "robust" at its class share
    with torch.no_grad():
        loss = float(torch.nn.functional.cross_entropy(model(x), y))
    assert loss_ceiling(10) < loss < math.log(10)  # near ln 10: ln(9 + e^0.1) - 0.1 or ln(9 + e^0.1)
    verdict = did_it_train("pgd_at", 0, clean, loss, 10)
    assert not verdict.trained and "clean accuracy" in verdict.why and "final loss" in verdict.why
    # a model that trained passes both sides; each side alone can fail it
    assert did_it_train("m", 0, 0.95, 0.3, 10).trained
    assert not did_it_train("m", 0, 0.95, math.log(10), 10).trained  # stuck loss, lucky accuracy
    assert not did_it_train("m", 0, clean_floor(10), 0.3, 10).trained  # the floor itself is not enough
    assert did_it_train("m", 0, None, None, 10).trained  # nothing to say otherwise, and the sentence says so
    assert final_loss({"loss": 2.0, "clean": 1.1, "adv": 1.5}) == 1.1 and final_loss({"adv": 1.5}) == 1.5


SEEDS = (0, 1, 2)


def _frontier_with_stuck(stuck_seeds: set[int], pgd_at_robust: float = 0.126):
    """The smoke frontier's spec with synthetic rows; PGD-AT's seeds in ``stuck_seeds`` answer one
    class (clean and robust accuracy 0.126, final loss ln 10), the others trained (clean 0.9)."""
    spec = study(smoke_config()).specs.frontier_spec()
    robust, clean = spec["robust"], spec["clean"]
    assert clean is not None and spec["classes"] == 10
    acc = {}
    for d in ("natural", "fgsm_at", "ifgsm_at", "e2sad", "fgsm_rs", "pgd_at", "trades"):
        acc[d] = {a: 0.9 for a in spec["attacks"]}
        acc[d][robust] = {"pgd_at": 0.6, "e2sad": 0.05, "fgsm_rs": 0.3}.get(d, 0.1)
    rows, costs = _rows_and_costs(spec, acc, 1000, SEEDS)
    pgd = [m for m, i in spec["model_info"].items() if i["defense"] == "pgd_at"]
    stuck = rows["model"].isin(pgd) & rows["seed"].isin(stuck_seeds)
    rows.loc[stuck, "accuracy"] = pgd_at_robust
    train = pd.DataFrame(
        [
            {"model": m, "seed": s, "final_loss": math.log(10) if m in pgd and s in stuck_seeds else 0.4}
            for m in spec["model_info"]
            for s in SEEDS
        ]
    )
    return spec, frontier_table(rows, costs, spec, train)


def test_a_model_that_did_not_train_is_never_robust_in_the_frontier():
    spec, df = _frontier_with_stuck(set(SEEDS))
    robust = spec["robust"]
    pgd = df[(df["defense"] == "pgd_at") & (df["protocol"] == "equal_iterations")].iloc[0]
    assert pgd["trained"] == "0 of 3" and pgd["untrained_seeds"] == "0 1 2"
    assert pd.isna(pgd[f"acc[{robust}]"])  # no mean: 12.6 % is not robustness
    assert "0:0.1260!" in pgd[f"per_seed[{robust}]"]  # every seed still shown, marked
    st = frontier_statements(df, spec).set_index("name")
    row = st.loc["pgd_at_most_robust_at_equal_iterations"]
    assert row["verdict"] == "NOT RUN" and "did not train" in row["numbers"]


def test_statements_leave_out_the_seeds_that_did_not_train():
    spec, df = _frontier_with_stuck({1})
    robust = spec["robust"]
    pgd = df[(df["defense"] == "pgd_at") & (df["protocol"] == "equal_iterations")].iloc[0]
    assert pgd["trained"] == "2 of 3" and pgd[f"acc[{robust}]"] == pytest.approx(0.61)  # seeds 0 and 2
    st = frontier_statements(df, spec).set_index("name")
    row = st.loc["pgd_at_most_robust_at_equal_iterations"]
    assert row["verdict"] == "PASS" and "left out, did not train: PGD-AT (seed 1)" in row["numbers"]
    assert "over seeds 0, 2" in row["numbers"]


def test_paired_difference_is_paired_by_seed_and_unclipped():
    """Two defenses whose per-seed accuracies move together (a seed shares initialisation and batch
    order): the paired interval is narrower than the unpaired one would be, and it is not clipped."""
    a = {0: 0.20, 1: 0.60, 2: 0.40}
    b = {0: 0.15, 1: 0.55, 2: 0.35}
    d = paired_difference(a, b, 10_000)
    assert d.value == pytest.approx(0.05) and d.seeds == (0, 1, 2)
    assert d.lo > 0.03  # the per-seed differences are all 0.05: only the image term remains
    lo, hi = wilson(0.4, 10_000)
    assert d.hi - d.value == pytest.approx(math.hypot(hi - 0.4, 0.35 - wilson(0.35, 10_000)[0]), rel=1e-6)
    near_zero = intervals.accuracy({0: 0.0, 1: 0.02}, 100)
    assert near_zero.lo < 0.0 and near_zero.shown[0] == 0.0  # kept as computed, clipped only when shown
    assert "[0.000," in str(near_zero)
    with pytest.raises(ValueError, match="no seed in common"):
        paired_difference({0: 0.1}, {1: 0.2}, 100)
