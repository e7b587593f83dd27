"""Sanity checks of the evaluation (``snakemake sanity``).

Accuracy falls to about 0 as eps grows toward 1; iterative attacks are at
least as strong as single-step ones at the same eps; white-box attacks are at
least as strong as transfer from any substitute (the paper's Tables 3.1 and
3.2).  Each check is a function named after what it flags; a failed check
is FAIL, shown and never dropped; a check without its input is NOT RUN.
"""

from __future__ import annotations

import html
import textwrap

import pandas as pd

from ..attacks import iterative_kinds, single_step_kinds
from ..plots import plot_eps_curves
from ..render import write_table
from .common import (
    attack_eps,
    attack_kind,
    caption,
    checks_frame,
    load_json_rows,
    mean_std,
    verdict_style,
)
from .verdict import Check, Verdict, all_of, decide, tally

#: sanity: an iterative attack at the largest eps of the sweep (toward 1, where
#: any image is reachable) must leave at most this accuracy ("about 0").
ITERATIVE_MAX_ACC_AT_MAX_EPS = 0.05
#: sanity: a single-step attack cannot be expected to reach 0 (at eps = 1 FGSM
#: maps an image to a 0/1 pattern of gradient signs), but it must not keep more
#: than this multiple of chance level (1 / the data's classes: 0.2 on 10 classes).
#: A model that does resists a perturbation that destroys the image: a sign of
#: masked gradients.
SINGLE_STEP_CHANCE_MULTIPLE = 2


def single_step_max_acc(classes: int) -> float:
    """The single-step bound at the largest eps: SINGLE_STEP_CHANCE_MULTIPLE x chance (1 / classes)."""
    return SINGLE_STEP_CHANCE_MULTIPLE / classes


#: sanity: slack of every "at least as strong as" comparison and of the
#: "falls as eps grows" check, in accuracy (1 point): random starts and ties
#: move a measured accuracy by about this much on the same images.
SANITY_TOL = 0.01
#: verdicts the page names one by one (a FAIL or an UNDECIDED check)
DOUBTFUL = (Verdict.FAIL, Verdict.UNDECIDED)


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


def accuracy_survives_large_eps(model: str, attack: str, curve: pd.DataFrame | None, classes: int) -> Check:
    """FAIL when the sweep leaves more than its bound at the largest eps (ITERATIVE_MAX_ACC_AT_MAX_EPS,
    or :func:`single_step_max_acc` of the data's ``classes`` for a single-step attack), or when an iterative attack's
    accuracy rises by more than SANITY_TOL from one eps to the next: signs of masked gradients.
    ``curve``: the sweep's rows of :func:`sweep_frame` (eps, kind, accuracy); None: no sweep."""
    name = "accuracy_survives_large_eps"
    if curve is None:
        return Check.not_run(name, f"{attack}: accuracy -> 0 as eps grows", "no eps sweep of this model", model)
    g = curve.sort_values("eps")
    kind = g["kind"].iloc[0]
    accs = list(zip(g["eps"], g["accuracy"]))
    eps_max, acc_max = accs[-1]
    thr = single_step_max_acc(classes) if kind in single_step_kinds() else ITERATIVE_MAX_ACC_AT_MAX_EPS
    steps = [] if kind in single_step_kinds() else list(zip(accs, accs[1:]))
    verdict = all_of([decide(acc_max, "<=", thr)] + [decide(a2, "<=", a1 + SANITY_TOL) for (_, a1), (_, a2) in steps])
    rises = [(e1, a1, e2, a2) for (e1, a1), (e2, a2) in steps if a2 > a1 + SANITY_TOL]
    problems = []
    if acc_max > thr:
        problems.append(f"accuracy {acc_max:.4f} at eps {eps_max:g} > {thr:g}")
    if rises:
        e1, a1, e2, a2 = rises[0]
        problems.append(f"rises from {a1:.4f} (eps {e1:g}) to {a2:.4f} (eps {e2:g})")
    curve_text = ", ".join(f"{e:g}: {a:.3f}" for e, a in accs)
    numbers = ("; ".join(problems) if problems else f"<= {thr:g} at eps {eps_max:g}") + f" | curve {curve_text}"
    return Check(name, verdict, numbers, f"{attack}: accuracy -> 0 as eps -> {eps_max:g}", model)


def _strength_pairs(model: str, msw: pd.DataFrame, wb: dict, attacks: dict) -> list[tuple[str, float, float]]:
    """(label, iterative accuracy, single-step accuracy) of every iterative/single-step pair of one
    model at one eps > 0: sweep attacks at each common eps, table attacks of equal eps."""
    pairs = []
    kinds = dict(zip(msw["attack"], msw["kind"]))
    singles = [a for a, k in kinds.items() if k in single_step_kinds()]
    iters = [a for a, k in kinds.items() if k not in single_step_kinds()]
    for s in singles:
        for it in iters:
            a = msw[msw["attack"] == s].set_index("eps")["accuracy"]
            b = msw[msw["attack"] == it].set_index("eps")["accuracy"]
            for eps in sorted(set(a.index) & set(b.index)):
                if eps > 0:
                    pairs.append((f"{it} vs {s} @ eps {eps:g} (sweep)", float(b[eps]), float(a[eps])))
    wb_attacks = [a for (m, a) in wb if m == model]
    for s in wb_attacks:
        if attack_kind(s, attacks) not in single_step_kinds():
            continue
        for it in wb_attacks:
            if attack_kind(it, attacks) in iterative_kinds() and attack_eps(it, attacks) == attack_eps(s, attacks):
                pairs.append((f"{it} vs {s} (table)", wb[(model, it)][0], wb[(model, s)][0]))
    return pairs


def iterative_weaker_than_single_step(model: str, pairs: list[tuple[str, float, float]]) -> Check:
    """FAIL when an iterative attack leaves more than SANITY_TOL above a single-step attack at the
    same eps.  ``pairs``: (label, iterative accuracy, single-step accuracy), see :func:`_strength_pairs`."""
    name, s = "iterative_weaker_than_single_step", "iterative >= single-step at the same eps"
    if not pairs:
        return Check.not_run(name, s, "no single-step/iterative pair evaluated", model)
    verdicts = [decide(it, "<=", single + SANITY_TOL) for _, it, single in pairs]
    worst = max(pairs, key=lambda p: p[1] - p[2])
    numbers = (
        f"{verdicts.count(Verdict.FAIL)} of {len(pairs)} pairs weaker by > {SANITY_TOL:g}; worst {worst[0]}: "
        f"iterative {worst[1]:.4f} vs single-step {worst[2]:.4f}"
    )
    return Check(name, all_of(verdicts), numbers, s, model)


def _transfer_cases(model: str, wb: dict, transfer: pd.DataFrame, spec: dict) -> list[tuple]:
    """(table, attack, white-box accuracy, {substitute: transfer accuracy}) of every transfer table
    that has the model as a target, under the table's attack."""
    out = []
    for table, attack in spec.get("transfer_attacks", {}).items():
        if transfer.empty:
            continue
        tr = transfer[(transfer["model"] == model) & (transfer["attack_name"] == attack)]
        if tr.empty or (model, attack) not in wb:
            continue
        per_sub = {s: mean_std(g["accuracy"])[0] for s, g in tr.groupby("substitute", sort=False)}
        out.append((table, attack, wb[(model, attack)][0], per_sub))
    return out


def transfer_stronger_than_white_box(model: str, case: tuple | None) -> Check:
    """FAIL when the transfer attack from some substitute leaves more than SANITY_TOL below the
    white-box attack.  ``case``: one of :func:`_transfer_cases`; None: the model is no target."""
    name, s = "transfer_stronger_than_white_box", "white-box >= transfer from any substitute"
    if case is None:
        return Check.not_run(name, s, "model not a target of a transfer table", model)
    table, attack, white, per_sub = case
    sub = min(per_sub, key=per_sub.get)
    numbers = (
        f"white-box {attack} {white:.4f} vs strongest transfer {per_sub[sub]:.4f} (from {sub}; "
        f"{len(per_sub)} substitutes, {table})"
    )
    return Check(name, decide(white, "<=", per_sub[sub] + SANITY_TOL), numbers, s, model)


def sanity_checks(sweeps: pd.DataFrame, whitebox: pd.DataFrame, transfer: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """One line per (model, check): model, check (its sentence), verdict, evidence (its numbers), name.

    ``sweeps``: rows of ``eps-sweep`` (model, sweep, kind, eps, accuracy, seed);
    ``whitebox``: rows of ``evaluate`` (model, attack_name, accuracy, seed);
    ``transfer``: rows of ``evaluate-transfer`` (model, substitute, attack_name, accuracy, seed);
    ``spec``: models [names], attacks {name: {kind, eps}} of the white-box rows,
    transfer_attacks {table: attack}, classes (the data's: the single-step bound).
    """
    sw = sweep_frame(sweeps)
    wb = _per_model_attack(whitebox, "attack_name")
    attacks = spec.get("attacks", {})
    checks = []
    for model in spec["models"]:
        msw = sw[sw["model"] == model]
        curves = list(msw.groupby("attack", sort=False)) or [("eps sweep", None)]
        checks += [accuracy_survives_large_eps(model, attack, curve, spec["classes"]) for attack, curve in curves]
        checks.append(iterative_weaker_than_single_step(model, _strength_pairs(model, msw, wb, attacks)))
        cases = _transfer_cases(model, wb, transfer, spec) or [None]
        checks += [transfer_stronger_than_white_box(model, case) for case in cases]
    return checks_frame(checks, sentence="check", numbers="evidence", subject="model")


def render_sanity(checks: pd.DataFrame, spec: dict, out_csv, out_html) -> None:
    """Write the sanity checks: one line per (model, check) as CSV; per model (rows) and check
    (columns) the verdict and its evidence as HTML, each verdict in its colour (FAIL red, PASS green,
    UNDECIDED amber, NOT RUN grey)."""
    t = checks.copy()
    t["cell"] = [f"{r.verdict}: {r.evidence}" for r in t.itertuples()]
    t["column"] = [c if ":" not in c else f"{c.split(':')[0]}: accuracy -> 0 as eps grows" for c in t["check"]]
    wide = t.pivot_table(index="model", columns="column", values="cell", aggfunc="first", sort=False)
    wide = wide.reindex(index=list(dict.fromkeys(t["model"])), columns=list(dict.fromkeys(t["column"])))
    wide.columns.name = None
    labels = spec.get("model_labels", {})
    wide.index = [f"{m} ({labels[m]})" if m in labels else m for m in wide.index]
    doubtful = [f"{r.verdict} {r.model}: {r.check}" for r in checks.itertuples() if r.verdict in DOUBTFUL]
    verdict = f"Of {len(checks)} checks, {tally(checks['verdict'])}" + (
        ": " + "; ".join(doubtful) + "." if doubtful else "."
    )
    text = caption(
        spec,
        "Sanity checks of the evaluation (PASS / FAIL / UNDECIDED / NOT RUN; failed checks are shown, not hidden; "
        "NOT RUN: an input is missing). "
        f"Thresholds: iterative attack at the largest eps <= {ITERATIVE_MAX_ACC_AT_MAX_EPS}, single-step <= "
        f"{single_step_max_acc(spec['classes']):g}; comparisons with slack {SANITY_TOL}. {verdict}",
    )
    write_table(
        checks,
        wide.fillna(""),
        caption=text,
        csv=out_csv,
        html_path=out_html,
        html_style=lambda sty: sty.map(verdict_style),
        html_extra=f"\n<p><b>Verdict.</b> {html.escape(verdict)}</p>\n",
    )


def sanity_report(sweep_paths, whitebox_paths, transfer_paths, spec: dict, out_csv, out_html, out_fig) -> pd.DataFrame:
    """The sanity checks from the rows of eps-sweep / evaluate / evaluate-transfer: the table of
    verdicts (CSV, HTML) and the accuracy-against-eps figure (mean over seeds); returns the checks."""
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
