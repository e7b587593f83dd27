"""The interval arithmetic of the verdict (e2sad/science/intervals.py): Wilson over the test images,
Student's t over the seeds, and a difference of two accuracies decided PASS / FAIL / UNDECIDED."""

from __future__ import annotations

import numpy as np
import pytest

from e2sad.science.intervals import accuracy, difference, seed_half_width, wilson
from e2sad.science.verdict import Verdict, decide


def test_wilson_matches_the_textbook_values():
    lo, hi = wilson(0.5, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    lo, hi = wilson(0.0, 100)  # a robust accuracy of 0 still has an upper bound above 0
    assert lo == pytest.approx(0.0, abs=1e-12) and hi == pytest.approx(0.0370, abs=1e-4)
    lo, hi = wilson(0.8877, 10_000)
    assert 0.881 < lo < 0.8877 < hi < 0.894


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="at least one test image"):
        wilson(0.5, 0)
    with pytest.raises(ValueError, match=r"lies in \[0, 1\]"):
        wilson(1.2, 10)
    with pytest.raises(ValueError, match="at least one measured seed"):
        accuracy({}, 100)


def test_one_seed_is_the_binomial_interval_and_seeds_widen_it():
    one = accuracy({0: 0.8}, 1000)
    assert (one.lo, one.hi) == pytest.approx(wilson(0.8, 1000))
    assert seed_half_width([0.8]) == 0.0
    agree = accuracy({0: 0.8, 1: 0.8, 2: 0.8}, 1000)
    assert (agree.lo, agree.hi) == pytest.approx((one.lo, one.hi))  # no spread: images alone
    spread = accuracy({0: 0.7, 1: 0.8, 2: 0.9}, 1000)
    assert spread.value == pytest.approx(0.8)
    # t(0.975, 2) = 4.303, s = 0.1, k = 3: a seed half-width of 0.248 dominates the images' ~0.025
    assert seed_half_width([0.7, 0.8, 0.9]) == pytest.approx(4.303 * 0.1 / 3**0.5, rel=1e-3)
    assert spread.value - spread.lo > 0.24 and spread.hi > 1.0  # kept as computed (differences need it)
    assert spread.shown == (spread.lo, 1.0) and "[0.550, 1.000]" in str(spread)  # clipped where shown
    assert str(spread).endswith("(n = 1,000, 3 seeds)")


def test_the_interval_covers_the_true_accuracy_about_95_percent_of_the_time():
    """Simulated studies: one sample of 1,000 test images shared by 3 seeds (its error, binomial, is
    the same for all seeds) and seeds whose accuracies spread around it (sd 0.02).  The interval of
    the mean must hold the true 0.80 in about 95 % of them, not far more (too wide to tell)."""
    rng = np.random.default_rng(0)
    hits, trials = 0, 2000
    for _ in range(trials):
        images = rng.binomial(1000, 0.80) / 1000 - 0.80
        measured = np.clip(0.80 + images + rng.normal(0, 0.02, size=3), 0, 1)
        est = accuracy(dict(enumerate(measured)), 1000)
        hits += est.lo <= 0.80 <= est.hi
    assert 0.93 <= hits / trials <= 0.985


def test_a_difference_straddling_zero_is_undecided_and_a_clear_one_decides():
    a = accuracy({0: 0.31, 1: 0.29, 2: 0.33}, 100)
    b = accuracy({0: 0.27, 1: 0.28, 2: 0.26}, 100)
    d = difference(a, b)
    assert d.value == pytest.approx(0.04)
    assert d.lo < 0 < d.hi  # 0.31 vs 0.27 at n = 100 is inside the noise
    assert decide(d.interval, ">=", 0.0) is Verdict.UNDECIDED
    big_a = accuracy({0: 0.81, 1: 0.80, 2: 0.82}, 1000)
    big_b = accuracy({0: 0.02, 1: 0.01, 2: 0.03}, 1000)
    assert decide(difference(big_a, big_b).interval, ">=", 0.0) is Verdict.PASS
    assert decide(difference(big_b, big_a).interval, ">=", 0.0) is Verdict.FAIL
    assert difference(a, b).seeds == (0, 1, 2)
