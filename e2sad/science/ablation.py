"""Second-step ablation of e2SAD (``snakemake ablation``).

The paper's eq. 3.2 takes "the gradient of the CE-based dissimilarity ...
evaluated at x_adv" (3.2.2), which is zero when f(x_adv) is a fixed target.
e2SAD is trained with each reading (``second_step``: literal, entropy,
random_start, clean_target) at one budget and seed set; per variant the e2SAD
column of Table 3.1 is set beside the paper's, with the mean |difference| and
the measured size of the second-step gradient (mean |g2| and g2/g1 from the
model sidecars).  The variant closest to the paper is named, with its numbers.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from ..errors import DataError
from ..provenance import read_sidecar
from ..render import BREAK, fmt_ms, fmt_vs_paper, write_table
from .common import caption, mean_std, paper_column
from .verdict import Check, Verdict, decide

#: ablation: two variants whose mean |diff| to the paper differ by less than
#: this are reported as a tie (one test image of 10,000 is 1e-4).
TIE_TOL = 1e-4


# --------------------------------------------------------------------------- #
# The table
# --------------------------------------------------------------------------- #


def read_g2(model_paths: list[str]) -> pd.DataFrame:
    """Per model file: name, seed, mean |g2| and mean g2/g1 from ``<model>.meta.json``."""
    rows = []
    for p in model_paths:
        meta = read_sidecar(p)
        t = meta.get("train", {})
        rows.append(
            {
                "model": meta.get("values", {}).get("name"),
                "seed": meta.get("seed"),
                "g2_abs": t.get("second_step_g2_abs_mean"),
                "g2_over_g1": t.get("second_step_g2_over_g1_mean"),
            }
        )
    return pd.DataFrame(rows, columns=["model", "seed", "g2_abs", "g2_over_g1"])


def ablation_table(rows: pd.DataFrame, g2: pd.DataFrame, spec: dict) -> tuple[pd.DataFrame, dict]:
    """Tidy ablation table and the verdict.

    ``rows``: evaluation rows (model, attack_name, accuracy, seed, n);
    ``g2``: :func:`read_g2`; ``spec``: variants {variant: model}, attacks
    [names], attack_labels, paper_table, paper_model.
    Returns (tidy frame: one line per (variant, attack), verdict dict with the
    best variant, the ranking and the generated explanation).
    """
    paper = paper_column(spec["paper_table"], spec["paper_model"])
    out = []
    summary = {}
    for variant, model in spec["variants"].items():
        g = g2[g2["model"] == model]
        g2_abs = mean_std(g["g2_abs"])
        ratio = mean_std(g["g2_over_g1"])
        diffs = []
        for attack in spec["attacks"]:
            sel = rows[(rows["model"] == model) & (rows["attack_name"] == attack)]
            if sel.empty:
                raise DataError(f"ablation: no result for variant '{variant}' (model {model}) under '{attack}'")
            mean, std, seeds = mean_std(sel["accuracy"])
            p = paper.get(attack)
            d = mean - p if p is not None else float("nan")
            if p is not None:
                diffs.append(abs(d))
            out.append(
                {
                    "variant": variant,
                    "model": model,
                    "attack": attack,
                    "attack_label": spec.get("attack_labels", {}).get(attack, attack),
                    "accuracy": mean,
                    "std": std,
                    "seeds": seeds,
                    "n": int(sel["n"].iloc[0]) if "n" in sel else None,
                    "paper": p,
                    "diff": d,
                    "g2_abs_mean": g2_abs[0],
                    "g2_abs_std": g2_abs[1],
                    "g2_over_g1_mean": ratio[0],
                    "g2_over_g1_std": ratio[1],
                }
            )
        summary[variant] = {
            "model": model,
            "mean_abs_diff": sum(diffs) / len(diffs) if diffs else float("nan"),
            "n_compared": len(diffs),
            "g2_abs": g2_abs[0],
            "g2_over_g1": ratio[0],
        }
    tidy = pd.DataFrame(out)
    tidy["mean_abs_diff"] = tidy["variant"].map({v: s["mean_abs_diff"] for v, s in summary.items()})
    verdict = ablation_verdict(summary)
    tidy["best"] = tidy["variant"] == verdict.get("best")
    return tidy, verdict


def _sci(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2e}"


def _ranked(summary: dict[str, dict]) -> list[str]:
    """The variants compared with the paper, closest first."""
    return sorted(
        (v for v in summary if not math.isnan(summary[v]["mean_abs_diff"])), key=lambda v: summary[v]["mean_abs_diff"]
    )


def one_reading_closest_to_paper(summary: dict[str, dict]) -> Check:
    """UNDECIDED when the variant closest to the paper (smallest mean |diff|) is ahead of the next by
    less than TIE_TOL (a tie: the ablation does not single out one reading), PASS when it is
    ahead, NOT RUN when no variant could be compared with the paper's values."""
    name, s = "one_reading_closest_to_paper", "one reading of the second step reproduces the paper's e2SAD best"
    ranked = _ranked(summary)
    if not ranked:
        return Check.not_run(name, s, "no variant compared with the paper's values")
    numbers = ", ".join(f"{v} {summary[v]['mean_abs_diff']:.4f}" for v in ranked)
    if len(ranked) == 1:
        return Check(name, Verdict.PASS, f"mean |diff|: {numbers}", s)
    lead = summary[ranked[1]]["mean_abs_diff"] - summary[ranked[0]]["mean_abs_diff"]
    verdict = Verdict.PASS if decide(lead, ">=", TIE_TOL) == Verdict.PASS else Verdict.UNDECIDED
    return Check(name, verdict, f"mean |diff|: {numbers}; lead {lead:.4f} (tie below {TIE_TOL:g})", s)


def ablation_verdict(summary: dict[str, dict]) -> dict:
    """Name the variant with the smallest mean |diff| and explain it in two sentences; ``verdict``:
    that of :func:`one_reading_closest_to_paper` (UNDECIDED on a tie)."""
    check = one_reading_closest_to_paper(summary)
    ranked = _ranked(summary)
    if not ranked:
        text = "No variant could be compared with the paper's values."
        return {"best": None, "ranking": [], "verdict": check.verdict.value, "text": text}
    best = ranked[0]
    s = summary[best]
    first = (
        f"Of the {len(summary)} readings of the second step, '{best}' reproduces the paper's e2SAD column best: "
        f"mean |reproduced - paper| = {s['mean_abs_diff']:.4f} over {s['n_compared']} attacks"
    )
    if len(ranked) > 1:
        nxt = ranked[1]
        worst = ranked[-1]
        first += f", against {summary[nxt]['mean_abs_diff']:.4f} for '{nxt}' (next best)"
        if worst != nxt:
            first += f" and {summary[worst]['mean_abs_diff']:.4f} for '{worst}' (worst)"
        if check.verdict == Verdict.UNDECIDED:
            first += f"; a tie within {TIE_TOL:g}, so the ranking does not single out '{best}'"
    first += "."
    second = (
        f"Its measured second-step gradient has mean |g2| = {_sci(s['g2_abs'])}, "
        f"{_sci(s['g2_over_g1'])} times the first step's |g1|"
    )
    others = [v for v in summary if v != best and not math.isnan(summary[v]["g2_over_g1"] or float("nan"))]
    if others:
        small = min(others, key=lambda v: summary[v]["g2_over_g1"])
        second += (
            f", while '{small}' has the smallest ({_sci(summary[small]['g2_abs'])}, "
            f"g2/g1 = {_sci(summary[small]['g2_over_g1'])})"
        )
    second += "."
    return {
        "best": best,
        "ranking": [(v, summary[v]["mean_abs_diff"]) for v in ranked],
        "summary": summary,
        "verdict": check.verdict.value,
        "text": f"{first} {second}",
    }


def render_ablation(tidy: pd.DataFrame, verdict: dict, spec: dict, out_csv, out_tex, out_html) -> None:
    """Write the ablation: tidy rows as CSV; per variant (rows) the e2SAD accuracy under each attack
    beside the paper's, mean |diff|, mean |g2| and g2/g1, as LaTeX and HTML with the verdict."""
    t = tidy.copy()
    t["cell"] = [fmt_vs_paper(fmt_ms(r.accuracy, r.std, r.seeds), r.paper, r.diff) for r in t.itertuples()]
    wide = t.pivot_table(index="variant", columns="attack_label", values="cell", aggfunc="first", sort=False)
    wide = wide.reindex(columns=list(dict.fromkeys(t["attack_label"])))
    first = t.drop_duplicates("variant").set_index("variant")
    wide.insert(0, "model", first["model"])
    wide["mean |diff|"] = [f"{first.loc[v, 'mean_abs_diff']:.4f}" for v in wide.index]
    # the std on a second line in LaTeX (a space in HTML)
    for col, key in (("mean |g2|", "g2_abs"), ("mean g2/g1", "g2_over_g1")):
        wide[col] = [
            fmt_ms(first.loc[v, f"{key}_mean"], first.loc[v, f"{key}_std"], first.loc[v, "seeds"], 3, True, BREAK)
            for v in wide.index
        ]
    wide["best"] = ["best" if v == verdict.get("best") else "" for v in wide.index]
    wide.index.name = "second step"
    wide.columns.name = None
    text = caption(
        spec,
        f"{spec['title']}. Cells: reproduced e2SAD accuracy (paper's e2SAD value, difference). {verdict['text']}",
    )
    write_table(
        tidy,
        wide.fillna(""),
        caption=text,
        label="ablation",
        csv=out_csv,
        tex=out_tex,
        html_path=out_html,
        html_extra=f"\n<p><b>Verdict: {verdict['verdict']}.</b> {html.escape(verdict['text'])}</p>\n",
    )
