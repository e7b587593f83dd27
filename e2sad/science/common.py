"""Helpers shared by the scientific-validity products: attack names, result rows, mean ± std, paper values,
checks as a frame and their colours."""

from __future__ import annotations

import math
import re

import pandas as pd

from ..render import with_note
from ..tables import load_rows, paper_values
from .verdict import Check, Verdict


def attack_eps(name: str, attacks: dict | None = None) -> float | None:
    """eps of an attack: from its config entry, else read from its name (``fgsm_0.3`` -> 0.3)."""
    if attacks and name in attacks:
        return attacks[name].get("eps")
    m = re.search(r"_(\d+(?:\.\d+)?)", name)
    return float(m.group(1)) if m else None


def attack_kind(name: str, attacks: dict | None = None) -> str:
    """Kind of an attack (fgsm, ifgsm, pgd, apgd_ce, apgd_t, none): from its config entry, else its name."""
    if attacks and name in attacks:
        return attacks[name]["kind"]
    for k in ("ifgsm", "fgsm", "pgd", "apgd_ce", "apgd_t"):
        if name.startswith(k):
            return k
    return "none" if name == "clean" else name


def load_json_rows(paths: list[str]) -> pd.DataFrame:
    """Result rows (JSON files of ``evaluate``, ``evaluate-transfer``, ``eps-sweep``) as one frame."""
    return load_rows(paths)


def mean_std(values) -> tuple[float, float, int]:
    """(mean, sample std with ddof = 1 or NaN for one value, count) of the values that are not None/NaN."""
    v = [float(x) for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not v:
        return float("nan"), float("nan"), 0
    mean = sum(v) / len(v)
    std = float(pd.Series(v).std(ddof=1)) if len(v) > 1 else float("nan")
    return mean, std, len(v)


def caption(spec: dict, text: str) -> str:
    """A product's caption with the scale note of ``spec`` appended (``text [note]``)."""
    return with_note(text, spec.get("note"))


def paper_column(table: str, model: str) -> dict[str, float]:
    """The paper's values of one model in one table (``e2sad/paper_values.csv``), keyed by row."""
    pv = paper_values()
    pv = pv[(pv["table"] == table) & (pv["model"] == model)]
    return {r.row: float(r.value) for r in pv.itertuples()}


#: background of a verdict's cell in the HTML pages
VERDICT_COLOURS = {
    Verdict.PASS: "#d6f0d6",
    Verdict.FAIL: "#f8d0d0",
    Verdict.UNDECIDED: "#fbeec2",
    Verdict.NOT_RUN: "#e8e8e8",
}


def verdict_style(cell) -> str:
    """CSS of an HTML cell that starts with a verdict word (``FAIL: ...``), else none."""
    s = str(cell)
    for v, colour in VERDICT_COLOURS.items():
        if s.startswith(v):
            return f"background-color: {colour}"
    return ""


def checks_frame(checks: list[Check], sentence: str, numbers: str, subject: str | None = None) -> pd.DataFrame:
    """Checks as a frame: [``subject``,] ``sentence``, verdict, ``numbers``, name (the check function's)
    -- the column names each product has always had."""
    cols = ([subject] if subject else []) + [sentence, "verdict", numbers, "name"]
    rows = [([c.subject] if subject else []) + [c.sentence, c.verdict.value, c.numbers, c.name] for c in checks]
    return pd.DataFrame(rows, columns=cols)


def images_text(n: int | None, sample_seed: int | None = None) -> str:
    """Which test images an evaluation read, in words: the first 1,000 test images; a random sample
    of 1,000 test images (seed 0); all test images."""
    if not n:
        return "all test images"
    return (
        f"the first {n:,} test images"
        if sample_seed is None
        else f"a random sample of {n:,} test images (seed {sample_seed})"
    )
