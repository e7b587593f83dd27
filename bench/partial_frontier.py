"""The frontier table and its checked statements from what a results folder holds so far: a run
stopped before its end (its evaluations are each a file, so nothing done is lost).

Each frontier model enters with the seeds evaluated under every frontier attack, and only those;
a cell with none is left out and listed. The table and statements are the library's own
(:func:`e2sad.science.frontier_table`, :func:`e2sad.science.frontier_statements`) on the same
spec as the ``frontier`` target's, so a partial table reads like the full one; the output says how
many seeds each row has. A record of a partial run, not the frontier target's artifact.

    python bench/partial_frontier.py --configfile config/verdict.yaml --results results/verdict --out docs/results/x
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import yaml
from snakemake.utils import update_config

from e2sad.costs import cost_rows, final_terms
from e2sad.plan import Plan, load_study
from e2sad.science import frontier_statements, frontier_table, load_json_rows
from e2sad.science.trained import final_loss

REPO = Path(__file__).resolve().parents[1]


def _cell(r: pd.Series, attack: str) -> str:
    """``70.6 [63.3, 77.8] (63.5 / 69.7 / 70.6)``: the mean over the seeds that trained with its
    95 % interval (clipped for display), then every seed's value in percent."""
    seeds = str(r[f"per_seed[{attack}]"]).split()
    values = " / ".join(
        f"{100 * float(t.split(':')[1].rstrip('!')):.1f}{'!' if t.endswith('!') else ''}" for t in seeds
    )
    if pd.isna(r[f"acc[{attack}]"]):
        return f"did not train ({values})"
    lo, hi = max(0.0, r[f"lo[{attack}]"]), min(1.0, r[f"hi[{attack}]"])
    return f"{100 * r[f'acc[{attack}]']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}] ({values})"


def markdown(df: pd.DataFrame, spec: dict) -> str:
    """The partial table as Markdown: one line per row, accuracies in percent (``!``: a seed that
    did not train, left out of the mean)."""
    labels = spec.get("attack_labels", {})
    head = ["defense", "protocol", "steps", "training TFLOP", "trained"] + [labels.get(a, a) for a in spec["attacks"]]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for _, r in df[df["protocol"] != "published"].iterrows():
        protocol = r["protocol"] + (f" x{r['budget']:g}" if "budget" in r and not pd.isna(r["budget"]) else "")
        cells = [r["column"], protocol, f"{int(r['steps']):,}", f"{r['train_flops'] / 1e12:.3g}", r["trained"]]
        lines.append("| " + " | ".join(cells + [_cell(r, a) for a in spec["attacks"]]) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", nargs="+", required=True, help="the overlays, as snakemake takes them")
    ap.add_argument("--results", required=True, help="the results folder the run writes (config's results:)")
    ap.add_argument(
        "--out", required=True, help="folder for partial_frontier.{csv,md}, partial_statements.csv, cells.csv"
    )
    a = ap.parse_args(argv)
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    for o in a.configfile:
        update_config(cfg, yaml.safe_load(Path(o).read_text()))
    cfg["results"] = a.results
    plan = Plan.of(load_study(cfg, base_dir=REPO))
    spec = json.loads(json.dumps(plan.specs.frontier_spec()))
    paths = [p for p in plan.frontier.inputs() if Path(p).exists()]
    rows = load_json_rows(paths)
    every = rows[["model", "seed", "attack_name", "accuracy", "n", "seconds"]].sort_values(
        ["model", "seed", "attack_name"]
    )
    attacks = spec["attacks"]
    # the seeds of each trained model evaluated under every attack
    done = rows.groupby(["model", "seed"])["attack_name"].apply(lambda s: set(attacks) <= set(s))
    keep = {(m, int(s)) for (m, s), ok in done.items() if ok}
    rows = rows[[(m, int(s)) in keep for m, s in zip(rows["model"], rows["seed"])]]
    complete = {m for m, _ in keep}
    missing = sorted({c[2] for c in spec["cells"]} - complete)
    spec["cells"] = [c for c in spec["cells"] if c[2] in complete]
    models = [p for p in plan.frontier.model_files() if Path(p).exists()]
    train = final_terms(models)
    train["final_loss"] = [final_loss(t) for t in train["terms"]]
    df = frontier_table(rows, cost_rows(models, machine=True), spec, train)
    st = frontier_statements(df, spec)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "partial_frontier.csv", index=False)
    st.to_csv(out / "partial_statements.csv", index=False)
    every.to_csv(out / "cells.csv", index=False)  # every finished evaluation, complete seeds or not
    (out / "partial_frontier.md").write_text(markdown(df, spec))
    planned = sum(
        len(plan.frontier.seeds_of(m)) for m in dict.fromkeys(c[2] for c in plan.specs.frontier_spec()["cells"])
    )
    print(f"{len(keep)} of {planned} model-seeds evaluated under every attack; not yet: {', '.join(missing) or 'none'}")
    for r in st.itertuples():
        print(f"{r.verdict}: {r.statement}: {r.numbers}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
