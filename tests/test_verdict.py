"""The one vocabulary of verdicts (e2sad/science/verdict.py): the comparison with uncertainty,
the combination of parts, the record, and that no product speaks another vocabulary."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError

import pytest

from e2sad.science.verdict import Check, Verdict, all_of, decide, tally

PASS, FAIL, UNDECIDED, NOT_RUN = Verdict.PASS, Verdict.FAIL, Verdict.UNDECIDED, Verdict.NOT_RUN


def test_the_vocabulary_is_four_words():
    assert [str(v) for v in Verdict] == ["PASS", "FAIL", "UNDECIDED", "NOT RUN"]
    assert Verdict.NOT_RUN == "NOT RUN" and Verdict("FAIL") is FAIL
    assert json.dumps({"v": PASS}) == '{"v": "PASS"}'  # into sidecars as the word


@pytest.mark.parametrize(
    "value, op, threshold, expected",
    [
        # a point value is PASS or FAIL, never UNDECIDED; the boundary belongs to <= and >=, not to < and >
        (0.5, "<=", 0.5, PASS),
        (0.5, "<", 0.5, FAIL),
        (0.5, ">=", 0.5, PASS),
        (0.5, ">", 0.5, FAIL),
        (0.49, "<=", 0.5, PASS),
        (0.51, "<=", 0.5, FAIL),
        (0.81, ">=", 0.8, PASS),
        (0.79, ">=", 0.8, FAIL),
        # an interval: PASS when all of it satisfies the comparison, FAIL when none, UNDECIDED when it straddles
        ((0.1, 0.4), "<=", 0.5, PASS),
        ((0.6, 0.9), "<=", 0.5, FAIL),
        ((0.4, 0.6), "<=", 0.5, UNDECIDED),
        ((0.85, 0.95), ">=", 0.8, PASS),
        ((0.6, 0.7), ">=", 0.8, FAIL),
        ((0.7, 0.9), ">=", 0.8, UNDECIDED),
        ((0.7, 0.9), ">", 0.8, UNDECIDED),
        ((0.7, 0.9), "<", 0.8, UNDECIDED),
        # an interval that ends at the threshold
        ((0.3, 0.5), "<=", 0.5, PASS),
        ((0.3, 0.5), "<", 0.5, UNDECIDED),
        ((0.5, 0.7), "<=", 0.5, UNDECIDED),
        ((0.5, 0.7), "<", 0.5, FAIL),
        ((0.5, 0.7), ">=", 0.5, PASS),
        ((0.5, 0.7), ">", 0.5, UNDECIDED),
        ((0.3, 0.5), ">", 0.5, FAIL),
        # an interval of zero width is a point
        ((0.5, 0.5), "<", 0.5, FAIL),
        ([0.2, 0.3], "<=", 0.5, PASS),
    ],
)
def test_decide(value, op, threshold, expected):
    assert decide(value, op, threshold) is expected


@pytest.mark.parametrize(
    "value, threshold",
    [
        (None, 0.5),
        (float("nan"), 0.5),
        (0.4, None),
        (0.4, float("nan")),
        ((None, 0.3), 0.5),
        ((0.1, float("nan")), 0.5),
    ],
)
def test_a_missing_input_is_not_run_never_fail(value, threshold):
    for op in ("<", "<=", ">", ">="):
        assert decide(value, op, threshold) is NOT_RUN


def test_decide_refuses_a_bad_comparison_or_interval():
    with pytest.raises(ValueError, match="'=='"):
        decide(0.5, "==", 0.5)
    with pytest.raises(ValueError, match="lo > hi"):
        decide((0.6, 0.4), "<=", 0.5)


def test_all_of():
    assert all_of([PASS, PASS]) is PASS
    assert all_of([PASS, UNDECIDED]) is UNDECIDED
    assert all_of([PASS, NOT_RUN, UNDECIDED]) is NOT_RUN
    assert all_of([NOT_RUN, FAIL, UNDECIDED, PASS]) is FAIL  # one false part makes the claim false
    assert all_of([]) is NOT_RUN  # nothing checked is not a PASS


def test_check_record_and_tally():
    c = Check("accuracy_survives_large_eps", FAIL, "0.3000 at eps 1", "accuracy -> 0 as eps -> 1", "m")
    with pytest.raises(FrozenInstanceError):
        c.verdict = PASS
    missing = Check.not_run("transfer_stronger_than_white_box", "white-box >= transfer", "no transfer rows")
    assert missing.verdict is NOT_RUN and missing.numbers == "no transfer rows" and missing.subject == ""
    assert tally(["FAIL", PASS, "NOT RUN", "PASS"]) == "2 PASS, 1 FAIL, 1 NOT RUN"
    assert tally([]) == ""


def test_no_product_speaks_another_vocabulary():
    """The old verdict word FLAG is gone from the science modules and their captions."""
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    files = list((repo / "e2sad" / "science").rglob("*.py")) + list((repo / "report").glob("science_*.rst"))
    files += list((repo / "report").glob("frontier*.rst"))
    for f in files:
        text = f.read_text()
        assert not re.search(r"\bFLAG\b", text), f.name
