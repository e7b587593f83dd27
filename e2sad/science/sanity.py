"""Sanity checks of the evaluation (``snakemake sanity``).

Accuracy falls to about 0 as eps grows toward 1; iterative attacks are at
least as strong as single-step ones at the same eps; white-box attacks are at
least as strong as transfer from any substitute (the paper's Tables 3.1 and
3.2).  Failed checks are FLAGged, never dropped.
"""

from __future__ import annotations

import html

import pandas as pd

from ..render import write_table
from .common import ITERATIVE_KINDS, SINGLE_STEP_KINDS, attack_eps, attack_kind, caption, mean_std

#: sanity: an iterative attack at the largest eps of the sweep (toward 1, where
#: any image is reachable) must leave at most this accuracy ("about 0").
ITERATIVE_MAX_ACC_AT_MAX_EPS = 0.05
#: sanity: a single-step attack cannot be expected to reach 0 (at eps = 1 FGSM
#: maps an image to a 0/1 pattern of gradient signs), but it must not keep more
#: than twice chance level (10 classes).  A model that does resists a
#: perturbation that destroys the image: a sign of masked gradients.
SINGLE_STEP_MAX_ACC_AT_MAX_EPS = 0.2
#: sanity: slack of every "at least as strong as" comparison and of the
#: "falls as eps grows" check, in accuracy (1 point): random starts and ties
#: move a measured accuracy by about this much on the same images.
SANITY_TOL = 0.01


def _per_model_attack(rows: pd.DataFrame, key: str) -> dict[tuple, tuple[float, float, int]]:
    out = {}
    if rows.empty:
        return out
    for (m, k), g in rows.groupby(["model", key], sort=False):
        out[(m, k)] = mean_std(g["accuracy"])
    return out


def sweep_frame(sweeps: pd.DataFrame) -> pd.DataFrame:
    """Mean (and std) accuracy over seeds per (model, sweep attack, eps)."""
    if sweeps.empty:
        return pd.DataFrame(columns=["model", "attack", "kind", "eps", "accuracy", "std", "seeds"])
    g = sweeps.groupby(["model", "sweep", "kind", "eps"], sort=False)["accuracy"]
    df = g.agg(["mean", "std", "count"]).reset_index()
    return df.rename(columns={"sweep": "attack", "mean": "accuracy", "count": "seeds"})


def sanity_checks(sweeps: pd.DataFrame, whitebox: pd.DataFrame, transfer: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """One line per (model, check): verdict PASS / FLAG / n/a and the numbers.

    ``sweeps``: rows of ``eps-sweep`` (model, sweep, kind, eps, accuracy, seed);
    ``whitebox``: rows of ``evaluate`` (model, attack_name, accuracy, seed);
    ``transfer``: rows of ``evaluate-transfer`` (model, substitute, attack_name, accuracy, seed);
    ``spec``: models [names], attacks {name: {kind, eps}} of the white-box rows,
    transfer_attacks {table: attack}.
    """
    sw = sweep_frame(sweeps)
    wb = _per_model_attack(whitebox, "attack_name") if not whitebox.empty else {}
    attacks = spec.get("attacks", {})
    out = []

    def add(model, check, verdict, evidence):
        out.append({"model": model, "check": check, "verdict": verdict, "evidence": evidence})

    for model in spec["models"]:
        msw = sw[sw["model"] == model]
        # (1) accuracy -> about 0 as eps -> 1, per sweep attack
        for atk, g in msw.groupby("attack", sort=False):
            g = g.sort_values("eps")
            kind = g["kind"].iloc[0]
            accs = list(zip(g["eps"], g["accuracy"]))
            eps_max, acc_max = accs[-1]
            thr = SINGLE_STEP_MAX_ACC_AT_MAX_EPS if kind in SINGLE_STEP_KINDS else ITERATIVE_MAX_ACC_AT_MAX_EPS
            rises = [(e1, a1, e2, a2) for (e1, a1), (e2, a2) in zip(accs, accs[1:]) if a2 > a1 + SANITY_TOL]
            curve = ", ".join(f"{e:g}: {a:.3f}" for e, a in accs)
            problems = []
            if acc_max > thr:
                problems.append(f"accuracy {acc_max:.4f} at eps {eps_max:g} > {thr:g}")
            if kind not in SINGLE_STEP_KINDS and rises:
                e1, a1, e2, a2 = rises[0]
                problems.append(f"rises from {a1:.4f} (eps {e1:g}) to {a2:.4f} (eps {e2:g})")
            add(
                model,
                f"{atk}: accuracy -> 0 as eps -> {eps_max:g}",
                "FLAG" if problems else "PASS",
                ("; ".join(problems) + " | " if problems else f"<= {thr:g} at eps {eps_max:g} | ") + f"curve {curve}",
            )
        # (2) iterative at least as strong as single-step at the same eps
        pairs = []
        kinds = dict(zip(msw["attack"], msw["kind"]))
        singles = [a for a, k in kinds.items() if k in SINGLE_STEP_KINDS]
        iters = [a for a, k in kinds.items() if k not in SINGLE_STEP_KINDS]
        for s in singles:
            for it in iters:
                a = msw[msw["attack"] == s].set_index("eps")["accuracy"]
                b = msw[msw["attack"] == it].set_index("eps")["accuracy"]
                for eps in sorted(set(a.index) & set(b.index)):
                    if eps > 0:
                        pairs.append((f"{it} vs {s} @ eps {eps:g} (sweep)", float(b[eps]), float(a[eps])))
        wb_attacks = [a for (m, a) in wb if m == model]
        for s in wb_attacks:
            if attack_kind(s, attacks) not in SINGLE_STEP_KINDS:
                continue
            for it in wb_attacks:
                if attack_kind(it, attacks) in ITERATIVE_KINDS and attack_eps(it, attacks) == attack_eps(s, attacks):
                    pairs.append((f"{it} vs {s} (table)", wb[(model, it)][0], wb[(model, s)][0]))
        if pairs:
            worst = max(pairs, key=lambda p: p[1] - p[2])
            bad = [p for p in pairs if p[1] > p[2] + SANITY_TOL]
            add(
                model,
                "iterative >= single-step at the same eps",
                "FLAG" if bad else "PASS",
                f"{len(bad)} of {len(pairs)} pairs weaker by > {SANITY_TOL:g}; worst {worst[0]}: "
                f"iterative {worst[1]:.4f} vs single-step {worst[2]:.4f}",
            )
        else:
            add(model, "iterative >= single-step at the same eps", "n/a", "no single-step/iterative pair evaluated")
        # (3) white-box at least as strong as transfer from any substitute
        done = False
        for table, attack in spec.get("transfer_attacks", {}).items():
            if transfer.empty:
                continue
            tr = transfer[(transfer["model"] == model) & (transfer["attack_name"] == attack)]
            if tr.empty or (model, attack) not in wb:
                continue
            per_sub = {s: mean_std(g["accuracy"])[0] for s, g in tr.groupby("substitute", sort=False)}
            sub = min(per_sub, key=per_sub.get)
            white = wb[(model, attack)][0]
            ok = white <= per_sub[sub] + SANITY_TOL
            add(
                model,
                "white-box >= transfer from any substitute",
                "PASS" if ok else "FLAG",
                f"white-box {attack} {white:.4f} vs strongest transfer {per_sub[sub]:.4f} (from {sub}; "
                f"{len(per_sub)} substitutes, {table})",
            )
            done = True
        if not done:
            add(model, "white-box >= transfer from any substitute", "n/a", "model not a target of a transfer table")
    return pd.DataFrame(out, columns=["model", "check", "verdict", "evidence"])


def render_sanity(checks: pd.DataFrame, spec: dict, out_csv, out_html) -> None:
    """Write the sanity checks: one line per (model, check) as CSV; per model (rows) and check
    (columns) the verdict and its evidence as HTML, FLAG in red and PASS in green."""
    t = checks.copy()
    t["cell"] = [f"{r.verdict}: {r.evidence}" for r in t.itertuples()]
    t["column"] = [c if ":" not in c else f"{c.split(':')[0]}: accuracy -> 0 as eps grows" for c in t["check"]]
    wide = t.pivot_table(index="model", columns="column", values="cell", aggfunc="first", sort=False)
    wide = wide.reindex(index=list(dict.fromkeys(t["model"])), columns=list(dict.fromkeys(t["column"])))
    wide.columns.name = None
    labels = spec.get("model_labels", {})
    wide.index = [f"{m} ({labels[m]})" if m in labels else m for m in wide.index]
    n_flag = int((checks["verdict"] == "FLAG").sum())
    n_pass = int((checks["verdict"] == "PASS").sum())
    verdict = f"{n_pass} checks PASS, {n_flag} FLAG" + (
        ": " + "; ".join(f"{r.model}: {r.check}" for r in checks.itertuples() if r.verdict == "FLAG") if n_flag else "."
    )
    text = caption(
        spec,
        "Sanity checks of the evaluation (PASS / FLAG; failed checks are shown, not hidden). "
        f"Thresholds: iterative attack at the largest eps <= {ITERATIVE_MAX_ACC_AT_MAX_EPS}, single-step <= "
        f"{SINGLE_STEP_MAX_ACC_AT_MAX_EPS}; comparisons with slack {SANITY_TOL}. {verdict}",
    )

    def _color(v):
        s = str(v)
        if s.startswith("FLAG"):
            return "background-color: #f8d0d0"
        if s.startswith("PASS"):
            return "background-color: #d6f0d6"
        return ""

    write_table(
        checks,
        wide.fillna(""),
        caption=text,
        csv=out_csv,
        html_path=out_html,
        html_style=lambda sty: sty.map(_color),
        html_extra=f"\n<p><b>Verdict.</b> {html.escape(verdict)}</p>\n",
    )


def sanity_report(sweep_paths, whitebox_paths, transfer_paths, spec: dict, out_csv, out_html, out_fig) -> pd.DataFrame:
    """The sanity checks from the rows of eps-sweep / evaluate / evaluate-transfer: the PASS/FLAG
    table (CSV, HTML) and the accuracy-against-eps figure (mean over seeds); returns the checks."""
    import textwrap

    from ..plots import plot_eps_curves
    from .common import load_json_rows

    sweeps = load_json_rows(sweep_paths)
    checks = sanity_checks(sweeps, load_json_rows(whitebox_paths), load_json_rows(transfer_paths), spec)
    render_sanity(checks, spec, out_csv, out_html)
    curves = sweep_frame(sweeps)
    labels = spec.get("sweep_labels", {})
    curves["attack"] = [labels.get(a, a) for a in curves["attack"]]
    title = "Accuracy against eps (mean over seeds)"
    if spec.get("note"):
        title += "\n" + "\n".join(textwrap.wrap(spec["note"], 110))
    plot_eps_curves(curves, out_fig, title)
    return checks
