"""The frontier table (:func:`frontier_table`: one line per model, protocol and budget, with the
accuracies' 95 % intervals) and its rendering as CSV, LaTeX and HTML (:func:`render_frontier`, with
the checked statements of :mod:`.claims` below the table)."""

from __future__ import annotations

import html

import pandas as pd

from ...errors import DataError
from ...render import BREAK, write_table
from ..common import caption, mean_std, verdict_style
from ..intervals import accuracy
from ..verdict import tally


def frontier_table(rows: pd.DataFrame, costs: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """One line per (model, protocol[, budget]): defense, steps, training TFLOP, step time x
    natural and, under every frontier attack, the accuracy (mean over seeds), its std over seeds
    and its 95 % interval over the test images and the seeds (:func:`e2sad.science.intervals.accuracy`);
    then one line per published result (protocol ``published``, at its own training cost).

    ``rows``: evaluation rows (model, attack_name, accuracy, n, seed); ``costs``: training cost
    rows of the trained models (:func:`e2sad.costs.cost_rows`: model, defense, steps,
    median_step_s); ``spec``: cells [[model, protocol, trained, budget multiple]], budgets,
    attacks, attack_labels, model_info {trained: {column, label, defense, steps, tflop}}, robust
    (the AutoAttack name), natural (the trained model whose step time is the unit, or null),
    published (:meth:`e2sad.plan.Study.published_points`).
    """
    nat_step = None
    if spec.get("natural"):
        sel = costs[costs["model"] == spec["natural"]]["median_step_s"]
        nat_step = float(sel.median()) if len(sel) else None
    several = len(spec["budgets"]) > 1
    out = []
    for model, protocol, trained, *multiple in spec["cells"]:
        info = spec["model_info"][trained]
        line = {
            "model": model,
            "protocol": protocol,
            **({"budget": multiple[0] if multiple else None} if several else {}),
            "trained_as": trained,
            "defense": info["defense"],
            "column": info.get("column", model),
            "label": info.get("label", ""),
            "steps": info["steps"],
            "train_tflop": info["tflop"],
        }
        step = costs[costs["model"] == trained]["median_step_s"]
        line["median_step_s"] = float(step.median()) if len(step) else float("nan")
        line["step_x_natural"] = line["median_step_s"] / nat_step if nat_step else float("nan")
        seeds, n = 0, None
        for attack in spec["attacks"]:
            sel = rows[(rows["model"] == trained) & (rows["attack_name"] == attack)]
            if sel.empty:
                raise DataError(f"frontier: no result for model '{trained}' under '{attack}'")
            n = int(sel["n"].min())
            if sel["n"].nunique() > 1:
                raise DataError(
                    f"frontier: model '{trained}' under '{attack}' measured on {sorted(set(sel['n']))} images"
                )
            est = accuracy(dict(zip(sel["seed"].astype(int), sel["accuracy"].astype(float))), n)
            mean, std, k = mean_std(sel["accuracy"])
            seeds = max(seeds, k)
            line.update({f"acc[{attack}]": est.value, f"std[{attack}]": std, f"lo[{attack}]": est.lo})
            line[f"hi[{attack}]"] = est.hi
        line.update(seeds=seeds, n=n)
        out.append(line)
    for p in spec.get("published", []):
        line = {"model": p["key"], "protocol": "published", **({"budget": None} if several else {})}
        line.update(trained_as="", defense=p["defense"], column=p["label"], label="", steps=p["steps"])
        line.update(train_tflop=p["tflop"], median_step_s=float("nan"), step_x_natural=float("nan"))
        for attack in spec["attacks"]:
            v = p["accuracies"].get(attack, float("nan"))
            line.update({f"acc[{attack}]": v, f"std[{attack}]": float("nan"), f"lo[{attack}]": float("nan")})
            line[f"hi[{attack}]"] = float("nan")
        line.update(seeds=0, n=None)
        out.append(line)
    return pd.DataFrame(out)


def fmt_interval(value: float, lo: float, hi: float, sep: str = " ") -> str:
    """``0.812 [0.781, 0.840]``; the value alone without an interval; ``""`` when missing."""
    if pd.isna(value):
        return ""
    if pd.isna(lo) or pd.isna(hi):
        return f"{value:.3f}"
    return f"{value:.3f}{sep}[{lo:.3f}, {hi:.3f}]"


def _protocol_text(r) -> str:
    text = r.protocol.replace("_", " ")
    b = getattr(r, "budget", None)
    if r.protocol == "published":
        return "published (its own training)"
    return text + ("" if b is None or pd.isna(b) else f" x{b:g}")


def render_frontier(df: pd.DataFrame, statements: pd.DataFrame, spec: dict, out_csv, out_tex, out_html) -> None:
    """The frontier table as CSV (tidy), LaTeX and HTML (with the checked statements)."""
    labels = spec.get("attack_labels", {})
    show = pd.DataFrame(index=[f"{r.column} ({r.label})" if r.label else r.column for r in df.itertuples()])
    show.index.name = "defense"
    show["protocol"] = [_protocol_text(r) for r in df.itertuples()]
    show["steps"] = [f"{s:,}" for s in df["steps"]]
    show["train TFLOP"] = [f"{t:.3g}" for t in df["train_tflop"]]
    show["step x natural"] = ["" if pd.isna(x) else f"{x:.1f}" for x in df["step_x_natural"]]
    for a in spec["attacks"]:
        show[labels.get(a, a)] = [
            fmt_interval(v, lo, hi, sep=BREAK) for v, lo, hi in zip(df[f"acc[{a}]"], df[f"lo[{a}]"], df[f"hi[{a}]"])
        ]
    measured = df[df["protocol"] != "published"]
    n = int(measured["n"].max()) if len(measured) else 0
    k = int(measured["seeds"].max()) if len(measured) else 0
    lines = "".join(
        f'<li><b style="{verdict_style(r.verdict)}">{html.escape(r.verdict)}</b> {html.escape(r.statement)}: '
        f"{html.escape(r.numbers)}</li>"
        for r in statements.itertuples()
    )
    counts = f" ({tally(statements['verdict'])})" if len(statements) else ""
    multiples = spec["budgets"]
    unit = f"{spec['budget']}'s"
    if len(multiples) > 1:
        unit = "x" + ", x".join(f"{b:g}" for b in multiples) + f" the unit, {unit} at {spec['unit_steps']:,} steps,"
    published = "; published = the number its source reports, at its own training cost"
    text = caption(
        spec,
        f"{spec['title']}: accuracy on the first {n} test images, mean over {k} seed{'s' if k != 1 else ''} "
        "with its 95 % interval over the test images (Wilson) and the seeds (Student t); "
        "equal iterations = the paper's protocol (the same steps and batch for every defense), "
        f"equal cost = each defense trained for the steps whose training FLOPs equal {unit} training FLOPs"
        + ("; own recipe = the method's published recipe" if "own_recipe" in set(df["protocol"]) else "")
        + (published if "published" in set(df["protocol"]) else "")
        + ".",
    )
    write_table(
        df,
        show,
        caption=text,
        label="frontier",
        csv=out_csv,
        tex=out_tex,
        html_path=out_html,
        html_extra=f"\n<p><b>Checked statements</b>{counts}.</p>\n<ul>{lines}</ul>\n",
    )
