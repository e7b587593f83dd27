"""One vocabulary of verdicts for every check of the project.

A check is a small function named after what it flags; it returns one :class:`Check`
(its name, its :class:`Verdict`, the numbers it used, one sentence).  :func:`decide`
turns a comparison into a verdict, with its uncertainty when the quantity comes as an
interval (e.g. a 95 % interval over seeds and test images): a threshold inside the
interval leaves the comparison UNDECIDED.  A check whose input is missing is NOT RUN,
never FAIL (a missing model is not evidence against a claim) and never PASS.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    """The outcome of one check; a ``str`` (``Verdict.PASS == "PASS"``), so it goes into frames and JSON as is."""

    PASS = "PASS"
    FAIL = "FAIL"
    UNDECIDED = "UNDECIDED"
    NOT_RUN = "NOT RUN"


@dataclass(frozen=True)
class Check:
    """One checked claim.

    ``name``: the check function's name (what it flags); ``verdict``; ``numbers``: the numbers
    it used, as a reader sees them (or, when NOT RUN, what was missing); ``sentence``: what is
    checked, in one sentence; ``subject``: what it was run on (a model), when a check runs on
    several.
    """

    name: str
    verdict: Verdict
    numbers: str
    sentence: str
    subject: str = ""

    @classmethod
    def not_run(cls, name: str, sentence: str, missing: str, subject: str = "") -> Check:
        """The record of a check that could not run: ``missing`` says which input was absent."""
        return cls(name, Verdict.NOT_RUN, missing, sentence, subject)


_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _missing(x) -> bool:
    return x is None or (isinstance(x, numbers.Real) and math.isnan(x))


def decide(value: float | tuple[float, float] | None, op: str, threshold: float | None) -> Verdict:
    """The verdict of ``value op threshold`` (``op``: ``<``, ``<=``, ``>``, ``>=``).

    ``value``: a point value or an interval ``(lo, hi)`` of the quantity.  PASS when every
    point of the interval satisfies the comparison, FAIL when none does, UNDECIDED when the
    threshold lies inside it; a point value is PASS or FAIL.  A value, bound or threshold that
    is None or NaN gives NOT RUN.
    """
    if op not in _OPS:
        raise ValueError(f"decide: comparison '{op}' is not one of {', '.join(_OPS)}")
    lo, hi = value if isinstance(value, tuple | list) else (value, value)
    if _missing(lo) or _missing(hi) or _missing(threshold):
        return Verdict.NOT_RUN
    if lo > hi:
        raise ValueError(f"decide: interval ({lo}, {hi}) has lo > hi")
    holds = _OPS[op]
    # the end of the interval that satisfies the comparison last, and the one that satisfies it first
    last, first = (hi, lo) if op in ("<", "<=") else (lo, hi)
    if holds(last, threshold):
        return Verdict.PASS
    if not holds(first, threshold):
        return Verdict.FAIL
    return Verdict.UNDECIDED


def all_of(verdicts) -> Verdict:
    """The verdict of a claim that needs every part: FAIL if a part fails, else NOT RUN if a part
    did not run (or there is none), else UNDECIDED if a part is, else PASS."""
    vs = set(verdicts)
    for v in (Verdict.FAIL, Verdict.NOT_RUN, Verdict.UNDECIDED):
        if v in vs:
            return v
    return Verdict.PASS if vs else Verdict.NOT_RUN


def tally(verdicts) -> str:
    """How many of each verdict, in the vocabulary's order, leaving out those with none: ``4 PASS, 1 FAIL``."""
    vs = [Verdict(v) for v in verdicts]
    return ", ".join(f"{vs.count(v)} {v}" for v in Verdict if v in vs)
