"""Released models under this engine (``snakemake released``): each released model's measured
accuracy under each attack, with its 95 % Wilson interval over the test images
(:func:`e2sad.science.intervals.wilson`: one released model is one seed, so the images are the only
source of error), beside its authors' published number (:mod:`e2sad.science.published`, put in
the spec by the plan).

Pure: result rows and a spec in, a table out (:func:`released_table`); :func:`render_released`
writes it through :func:`e2sad.render.write_table`.
"""

from __future__ import annotations

import math

import pandas as pd

from ..render import write_table
from .common import caption, images_text
from .intervals import wilson

#: the columns of the tidy table (the CSV), in order
COLUMNS = (
    "model",
    "label",
    "release",
    "attack_name",
    "attack",
    "n",
    "accuracy",
    "lo",
    "hi",
    "published",
    "published_n",
    "diff",
    "inside",
    "flags",
)


def _flags(row) -> str:
    """The reference AutoAttack's check flags a row raised, by name (``aa_flags``: {flag: bool})."""
    flags = row.get("aa_flags") if hasattr(row, "get") else None
    if isinstance(flags, dict):
        return ", ".join(name for name, raised in flags.items() if raised)
    if isinstance(flags, (list, tuple)):
        return ", ".join(map(str, flags))
    return "" if flags is None or (isinstance(flags, float) and math.isnan(flags)) else str(flags)


def released_table(rows: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """One line per (released model, attack) of ``spec`` (``models``, ``attacks``, ``model_info``
    with each model's ``label``, ``release`` and ``published`` accuracies by attack and their
    ``published_n``; ``attack_labels``): the measured accuracy on ``n`` test images with its 95 %
    Wilson interval, the published accuracy, the difference, whether the published number lies
    inside the interval (``None`` where it is not comparable: no published number, or published
    on another number of test images), and the reference AutoAttack's check flags.  A pair
    without a row reads NaN (not run)."""
    out = []
    for model in spec["models"]:
        info = spec["model_info"][model]
        published = info.get("published") or {}
        for attack in spec["attacks"]:
            sel = rows[(rows["model"] == model) & (rows["attack_name"] == attack)] if len(rows) else rows
            pub = published.get(attack)
            line = {
                "model": model,
                "label": info["label"],
                "release": info.get("release"),
                "attack_name": attack,
                "attack": spec.get("attack_labels", {}).get(attack, attack),
                "published": pub,
                "published_n": info.get("published_n") if pub is not None else None,
            }
            if sel.empty:
                line.update(n=0, accuracy=math.nan, lo=math.nan, hi=math.nan, diff=math.nan, inside=None, flags="")
                out.append(line)
                continue
            r = sel.iloc[-1]
            n, acc = int(r["n"]), float(r["accuracy"])
            lo, hi = wilson(acc, n)
            comparable = pub is not None and line["published_n"] in (None, n)
            line.update(
                n=n,
                accuracy=acc,
                lo=lo,
                hi=hi,
                diff=acc - pub if pub is not None else math.nan,
                inside=(lo <= pub <= hi) if comparable else None,
                flags=_flags(r),
            )
            out.append(line)
    return pd.DataFrame(out, columns=list(COLUMNS))


def _pct(x) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}"


def released_display(tidy: pd.DataFrame) -> pd.DataFrame:
    """The table as shown (LaTeX, HTML): accuracies in percent, the interval, the published number."""
    shown = []
    for r in tidy.itertuples():
        measured = "not run" if r.n == 0 else f"{_pct(r.accuracy)} (n = {r.n:,})"
        interval = "" if r.n == 0 else f"[{_pct(r.lo)}, {_pct(r.hi)}]"
        if pd.isna(r.published):
            published, diff = "not published", ""
        else:
            same = pd.isna(r.published_n) or int(r.published_n) == r.n or r.n == 0
            on = "" if same else f" (n = {int(r.published_n):,})"
            published = _pct(r.published) + on
            diff = "" if r.n == 0 else f"{100 * r.diff:+.2f}"
        shown.append(
            {
                "released model": r.label,
                "attack": r.attack,
                "this engine, % (n)": measured,
                "95 % interval (Wilson)": interval,
                "published, %": published,
                "difference, points": diff,
                "flags": r.flags,
            }
        )
    return pd.DataFrame(shown)


def render_released(tidy: pd.DataFrame, spec: dict, csv, tex, html_path) -> None:
    """The released models' table as CSV (the tidy frame), LaTeX and HTML."""
    images = images_text(spec.get("n_test"))
    text = f"{spec['title']}: accuracy on {images}, 95 % Wilson interval over the images, beside the published number"
    write_table(
        tidy,
        released_display(tidy),
        caption=caption(spec, text),
        label="released",
        csv=csv,
        tex=tex,
        html_path=html_path,
        index=False,
    )


def released_frontier_points(rows: pd.DataFrame, spec: dict) -> list[dict]:
    """The frontier's released points (``spec["released"]``: key, label, train_flops, ...) that
    ``rows`` measured under the frontier's robust attack (``spec["robust"]``), each with its
    accuracy, its 95 % Wilson interval and its test images; a point without a row is left out
    (``snakemake released`` has not measured it yet)."""
    out = []
    for p in spec.get("released") or []:
        sel = rows[(rows["model"] == p["key"]) & (rows["attack_name"] == spec["robust"])] if len(rows) else rows
        if sel.empty:
            continue
        r = sel.iloc[-1]
        n, acc = int(r["n"]), float(r["accuracy"])
        lo, hi = wilson(acc, n)
        out.append({**p, "accuracy": acc, "lo": lo, "hi": hi, "n": n})
    return out
