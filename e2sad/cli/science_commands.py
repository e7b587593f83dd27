"""The subcommands of the science products (:mod:`e2sad.science`): the ablation, robustness,
frontier and sanity reports and the paper's statements, each a table (and figure) with its verdicts.

Imports inside a command function are only those that keep pandas, matplotlib and torch out of the
start-up of a job that does not need them (``python -m e2sad --help``, the study plan).
"""

from __future__ import annotations

import sys

from .options import FIG, TABLE_OUTS, command, models, opt, rows, spec, write_sidecars

# ---- scientific checks (e2sad/science)


@command(
    "ablation-table",
    "second-step ablation of e2SAD beside the paper's e2SAD column",
    spec("variants {variant: model}, attacks, paper_model, ..."),
    rows("JSON result rows of the variants"),
    models("the variants' model files (sidecars are read)"),
    TABLE_OUTS,
)
def cmd_ablation_table(a):
    from ..science import ablation_table, load_json_rows, read_g2, render_ablation

    tidy, verdict = ablation_table(load_json_rows(a.rows), read_g2(a.models), a.spec)
    render_ablation(tidy, verdict, a.spec, a.out_csv, a.out_tex, a.out_html)
    write_sidecars([a.out_csv, a.out_tex, a.out_html], a, inputs=a.rows + a.models, extra={"verdict": verdict})
    print(f"ablation: {verdict['text']}", file=sys.stderr)


@command(
    "robustness-table",
    "paper's attack beside the strongest attack found, per model",
    spec("models, reference, attacks, flag_drop, ..."),
    rows(),
    TABLE_OUTS,
)
def cmd_robustness_table(a):
    from ..science import load_json_rows, render_robustness, robustness_table

    df = robustness_table(load_json_rows(a.rows), a.spec)
    render_robustness(df, a.spec, a.out_csv, a.out_tex, a.out_html)
    write_sidecars([a.out_csv, a.out_tex, a.out_html], a, inputs=a.rows)
    for r in df.itertuples():
        flag = f"  FLAG {r.flag}" if r.flag else ""
        msg = f"{r.model}: {r.reference} {r.reference_acc:.4f}, strongest {r.strongest} {r.strongest_acc:.4f}{flag}"
        print(msg, file=sys.stderr)


@command(
    "frontier-table",
    "cost-robustness frontier: table, figure and checked statements",
    spec("cells, attacks, model_info, robust, budget, ..."),
    rows("JSON result rows (evaluate)"),
    models("trained model files (their sidecars give step times)"),
    opt("--snapshots", default=None, help="snapshots.csv (robustness along training), for its statement"),
    opt("--released", nargs="*", default=[], help="JSON rows of the released models (snakemake released), drawn"),
    TABLE_OUTS,
    opt("--out-statements", default=None, help="the checked statements as CSV (verdict, statement, numbers, ...)"),
    FIG,
)
def cmd_frontier_table(a):
    import pandas as pd

    from ..costs import cost_rows, final_terms
    from ..science import frontier_statements, frontier_table, load_json_rows, plot_frontier, render_frontier
    from ..science.released import released_frontier_points
    from ..science.trained import final_loss

    train = final_terms(a.models)
    train["final_loss"] = [final_loss(t) for t in train["terms"]]
    df = frontier_table(load_json_rows(a.rows), cost_rows(a.models, machine=True), a.spec, train)
    snaps = pd.read_csv(a.snapshots) if a.snapshots else None
    st = frontier_statements(df, a.spec, snaps)
    render_frontier(df, st, a.spec, a.out_csv, a.out_tex, a.out_html)
    released = released_frontier_points(load_json_rows(a.released), a.spec) if a.released else []
    for p in a.spec.get("released") or []:
        if p["key"] not in {r["key"] for r in released}:
            print(
                f"released model {p['key']}: not drawn, no {a.spec['robust']} row (snakemake released)", file=sys.stderr
            )
    plot_frontier(df, a.spec, a.out_fig, released)
    outs = [a.out_csv, a.out_tex, a.out_html, *a.out_fig]
    if a.out_statements:
        st.to_csv(a.out_statements, index=False)
        outs.append(a.out_statements)
    inputs = a.rows + a.models + ([a.snapshots] if a.snapshots else []) + a.released
    write_sidecars(outs, a, inputs=inputs)
    for r in st.itertuples():
        print(f"{r.verdict}: {r.statement}: {r.numbers}", file=sys.stderr)


@command(
    "frontier-snapshots",
    "robustness along training and catastrophic overfitting",
    spec("models, attacks, single_step, iterative, overfit_drop, ..."),
    rows("JSON rows of the snapshots (evaluate)"),
    opt("--out-csv", required=True),
    opt("--out-html", required=True),
    FIG,
)
def cmd_frontier_snapshots(a):
    from ..science import (
        catastrophic_overfitting,
        load_json_rows,
        plot_snapshots,
        render_snapshots,
        snapshot_frame,
        snapshot_seeds,
    )

    rows = load_json_rows(a.rows)
    frame = snapshot_frame(rows)
    seeds = snapshot_seeds(rows)
    flags = catastrophic_overfitting(
        seeds,
        a.spec["single_step"],
        a.spec["iterative"],
        a.spec["overfit_drop"],
        a.spec.get("overfit_gap"),
        a.spec.get("overfit_hold", 0.0),
    )
    render_snapshots(frame, flags, a.spec, a.out_csv, a.out_html)
    plot_snapshots(frame, flags, a.spec, a.out_fig)
    write_sidecars([a.out_csv, a.out_html, *a.out_fig], a, inputs=a.rows)
    for r in flags.itertuples():
        where = f"steps {r.step_before} -> {r.step}" if r.step_before != r.step else f"step {r.step} (gap)"
        print(f"FLAG catastrophic overfitting: {r.model} seed {r.seed} {where}", file=sys.stderr)


@command(
    "sanity-report",
    "sanity checks of the evaluation (PASS/FAIL/UNDECIDED/NOT RUN), and the eps-sweep figure",
    spec("models, attacks, transfer_attacks, ..."),
    opt("--sweeps", nargs="+", required=True, help="rows written by eps-sweep"),
    opt("--whitebox", nargs="*", default=[], help="rows written by evaluate"),
    opt("--transfer", nargs="*", default=[], help="rows written by evaluate-transfer"),
    opt("--out-csv", required=True),
    opt("--out-html", required=True),
    opt("--out-fig", nargs="+", required=True, help="eps-sweep figure files (.pdf, .png)"),
)
def cmd_sanity_report(a):
    from ..science import sanity_report
    from ..science.verdict import Verdict, tally

    checks = sanity_report(a.sweeps, a.whitebox, a.transfer, a.spec, a.out_csv, a.out_html, a.out_fig)
    write_sidecars([a.out_csv, a.out_html, *a.out_fig], a, inputs=a.sweeps + a.whitebox + a.transfer)
    print(f"sanity: {tally(checks['verdict'])}", file=sys.stderr)
    for r in checks[checks["verdict"] != Verdict.PASS].itertuples():
        print(f"  {r.verdict} {r.model}: {r.check}: {r.evidence}", file=sys.stderr)


@command(
    "statements",
    "the paper's claims on Table 3.1 and training cost, PASS/FAIL",
    opt("--table", required=True, help="Table 3.1 CSV (e2sad table)"),
    opt("--cost", required=True, help="training-cost CSV (e2sad cost-table)"),
    spec("attacks {name: {kind, eps}}, note", default="{}"),
    opt("--out-html", required=True),
    opt("--out-md", required=True),
    opt("--out-csv", default=None),
)
def cmd_statements(a):
    from ..science import check_statements, render_statements

    df = check_statements(a.table, a.cost, a.spec.get("attacks"))
    render_statements(df, a.spec, a.out_html, a.out_md, a.out_csv)
    write_sidecars([a.out_html, a.out_md, a.out_csv], a, inputs=[a.table, a.cost])
    for r in df.itertuples():
        print(f"{r.verdict}: {r.statement} -- {r.evidence}", file=sys.stderr)
