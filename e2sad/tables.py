"""Tables: reproduced values beside the paper's, as CSV, LaTeX (booktabs) and HTML.

A table spec (from the workflow config) names its rows (attacks, or substitute
models for a transfer table) and its models; each model carries the column
header and the H/S label under which the paper lists it.  Rows of results are
the JSON files written by ``evaluate`` / ``evaluate-transfer``; several seeds of
one cell become mean and standard deviation.  Files are written by
:func:`e2sad.render.write_table`.
"""

from __future__ import annotations

import io
import json
from importlib import resources
from pathlib import Path

import pandas as pd

from .errors import DataError
from .render import fmt_ms, fmt_vs_paper, with_note, write_table


def paper_values() -> pd.DataFrame:
    text = resources.files("e2sad").joinpath("paper_values.csv").read_text()
    return pd.read_csv(io.StringIO(text), comment="#")


def load_rows(paths: list[str]) -> pd.DataFrame:
    rows = []
    for p in paths:
        try:
            obj = json.loads(Path(p).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"{p}: not a readable result row ({exc})") from None
        rows.extend(obj if isinstance(obj, list) else [obj])
    return pd.DataFrame(rows)


def tidy_table(rows: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """One line per (row, model): mean/std over seeds, the paper's value and the difference."""
    row_key = "substitute" if spec.get("kind") == "transfer" else "attack_name"
    pv = paper_values()
    pv = pv[pv["table"] == spec.get("paper_table", spec["name"])]
    paper = {(r.row, r.model): r.value for r in pv.itertuples()}
    out = []
    for row in spec["rows"]:
        for model in spec["models"]:
            sel = rows[(rows[row_key] == row) & (rows["model"] == model)]
            if sel.empty:
                raise DataError(f"table {spec['name']}: no result for row '{row}' and model '{model}'")
            acc = sel["accuracy"].astype(float)
            info = spec["model_info"][model]
            p = paper.get((row, model))
            mean = float(acc.mean())
            out.append(
                {
                    "table": spec["name"],
                    "scale": spec.get("config", {}).get("scale", ""),
                    "row": row,
                    "row_label": spec["row_labels"].get(row, row),
                    "model": model,
                    "column": info["column"],
                    "label": info["label"],
                    "accuracy": round(mean, 6),
                    "std": round(float(acc.std(ddof=1)), 6) if len(acc) > 1 else float("nan"),
                    "seeds": int(sel["seed"].nunique()) if "seed" in sel else 1,
                    "n": int(sel["n"].iloc[0]),
                    "paper": p,
                    "diff": round(mean - p, 4) if p is not None else None,
                }
            )
    return pd.DataFrame(out)


def _cell(r) -> str:
    """One cell of a paper table: reproduced mean (± std over seeds), then (paper, difference)."""
    return fmt_vs_paper(fmt_ms(r.accuracy, r.std, r.seeds), r.paper, r.diff)


def wide_table(tidy: pd.DataFrame) -> pd.DataFrame:
    """The paper's layout: rows (attack or substitute, label), columns the defenses."""
    t = tidy.copy()
    t["cell"] = [_cell(r) for r in t.itertuples()]
    row_order = list(dict.fromkeys(t["row_label"]))
    col_order = list(dict.fromkeys(t["column"]))
    wide = t.pivot_table(index=["row_label", "label"], columns="column", values="cell", aggfunc="first", sort=False)
    wide = wide.reindex(columns=col_order)
    wide = wide.reindex(sorted(wide.index, key=lambda ix: (row_order.index(ix[0]), ix[1])))
    wide.index.names = [None, "Label"]
    wide.columns.name = None
    return wide.fillna("")


def render(tidy: pd.DataFrame, spec: dict, out_csv, out_tex, out_html) -> None:
    """Write a paper table: the tidy frame as CSV, the paper's layout (:func:`wide_table`) as LaTeX and HTML."""
    caption = with_note(spec.get("title", spec["name"]), spec.get("note", ""))
    if tidy["paper"].notna().any():
        caption += " Cells: reproduced (paper, difference)."
    else:
        caption += " Cells: reproduced accuracy; the paper gives no numbers for this table."
    write_table(
        tidy, wide_table(tidy), caption=caption, label=spec["name"], csv=out_csv, tex=out_tex, html_path=out_html
    )
