"""The checked statements of the frontier (:func:`frontier_statements`): each claim a function of
the frontier table (:func:`.table.frontier_table`) and its spec, returning checks decided on 95 %
intervals (UNDECIDED when the threshold is inside, NOT RUN when a defense, protocol or input is
absent); :func:`no_defense_overfits_catastrophically` reads the snapshots' table instead."""

from __future__ import annotations

import pandas as pd

from ..common import checks_frame
from ..intervals import Estimate, difference
from ..verdict import Check, Verdict, all_of, decide

#: "overstates": the paper's attack (IFGSM-30) above AutoAttack by more than this (gradient masking)
OVERSTATE_MIN = 0.05
#: "comparable": e2SAD's AutoAttack accuracy at most this far below IFGSM-AT's at equal iterations
#: (the paper: e2SAD "achieves robustness comparable to" IFGSM adversarial training)
COMPARABLE_WITHIN = 0.05


def _label(spec: dict, attack: str) -> str:
    return spec.get("attack_labels", {}).get(attack, attack)


def _budgets(df: pd.DataFrame) -> list:
    """The budget multiples of the equal-cost rows ([None] when the table has one budget)."""
    if "budget" not in df.columns:
        return [None]
    return sorted({b for b in df[df["protocol"] == "equal_cost"]["budget"] if not pd.isna(b)})


def _estimate(df: pd.DataFrame, defense: str, protocol: str, attack: str, budget=None) -> Estimate | None:
    """The row's accuracy under ``attack`` with its interval, or None when absent."""
    sel = df[(df["defense"] == defense) & (df["protocol"] == protocol)]
    if budget is not None and "budget" in df.columns:
        sel = sel[sel["budget"] == budget]
    if sel.empty or f"acc[{attack}]" not in sel or pd.isna(sel.iloc[0][f"acc[{attack}]"]):
        return None
    r = sel.iloc[0]
    lo, hi = r.get(f"lo[{attack}]", float("nan")), r.get(f"hi[{attack}]", float("nan"))
    value = float(r[f"acc[{attack}]"])
    lo, hi = (value, value) if pd.isna(lo) or pd.isna(hi) else (float(lo), float(hi))
    n = 0 if pd.isna(r["n"]) else int(r["n"])
    return Estimate(value, lo, hi, n, tuple(range(int(r["seeds"]))))


def _at(budget) -> str:
    return "" if budget is None else f" x{budget:g}"


def e2sad_at_least_fgsm_rs_at_equal_cost(df: pd.DataFrame, spec: dict) -> list[Check]:
    """Per budget: FAIL when e2SAD's robust (AutoAttack) accuracy is below FGSM-RS's at equal
    training cost (the 95 % interval of the difference below 0), UNDECIDED when it holds 0."""
    robust = spec["robust"]
    name = "e2sad_at_least_fgsm_rs_at_equal_cost"
    s = f"at equal cost, e2SAD's {_label(spec, robust)} accuracy is at least FGSM-RS's"
    out = []
    for b in _budgets(df):
        e2, rs = _estimate(df, "e2sad", "equal_cost", robust, b), _estimate(df, "fgsm_rs", "equal_cost", robust, b)
        if not (e2 and rs):
            out.append(Check.not_run(name, s, "e2SAD and FGSM-RS not both in the equal-cost protocol", _at(b)))
            continue
        d = difference(e2, rs)
        numbers = f"e2SAD {e2}, FGSM-RS {rs}; difference {d.value:+.3f} [{d.lo:+.3f}, {d.hi:+.3f}]"
        out.append(Check(name, decide(d.interval, ">=", 0.0), numbers, s + _at(b), f"budget{_at(b)}"))
    return out


def paper_attack_overstates_e2sad(df: pd.DataFrame, spec: dict) -> list[Check]:
    """PASS when e2SAD's accuracy under the paper's attack (``reference``) exceeds its robust
    (AutoAttack) accuracy by more than OVERSTATE_MIN at equal iterations (the whole interval of
    the difference above it): the claim is gradient masking."""
    robust, ref = spec["robust"], spec.get("reference")
    name = "paper_attack_overstates_e2sad"
    s = (
        f"e2SAD's {_label(spec, ref or 'reference')} accuracy overstates its {_label(spec, robust)} accuracy "
        f"by more than {OVERSTATE_MIN:.2f} (gradient masking)"
    )
    if not ref:
        return [Check.not_run(name, s, "no reference attack (the paper's) in the frontier")]
    a, b = _estimate(df, "e2sad", "equal_iterations", ref), _estimate(df, "e2sad", "equal_iterations", robust)
    if not (a and b):
        return [Check.not_run(name, s, "e2SAD not in the equal-iterations protocol")]
    d = difference(a, b)
    numbers = (
        f"{_label(spec, ref)} {a}, {_label(spec, robust)} {b}; difference {d.value:+.3f} [{d.lo:+.3f}, {d.hi:+.3f}]"
    )
    return [Check(name, decide(d.interval, ">", OVERSTATE_MIN), numbers, s)]


def e2sad_comparable_to_ifgsm_at(df: pd.DataFrame, spec: dict) -> list[Check]:
    """The paper's claim, at its protocol (equal iterations), under the robust attack: PASS when
    e2SAD's accuracy is at most COMPARABLE_WITHIN below IFGSM-AT's over the whole interval of the
    difference, FAIL when the whole interval is further below."""
    robust = spec["robust"]
    name = "e2sad_comparable_to_ifgsm_at"
    s = (
        f"e2SAD's robustness is comparable to IFGSM-AT's at equal iterations: its {_label(spec, robust)} "
        f"accuracy at most {COMPARABLE_WITHIN:.2f} below"
    )
    e2, it = _estimate(df, "e2sad", "equal_iterations", robust), _estimate(df, "ifgsm_at", "equal_iterations", robust)
    if not (e2 and it):
        return [Check.not_run(name, s, "e2SAD and IFGSM-AT not both in the equal-iterations protocol")]
    d = difference(e2, it)
    numbers = f"e2SAD {e2}, IFGSM-AT {it}; difference {d.value:+.3f} [{d.lo:+.3f}, {d.hi:+.3f}]"
    return [Check(name, decide(d.interval, ">=", -COMPARABLE_WITHIN), numbers, s)]


def pgd_at_most_robust_at_equal_iterations(df: pd.DataFrame, spec: dict) -> list[Check]:
    """PASS when PGD-AT's robust accuracy is above every other defense's at equal iterations (the
    interval of each difference above 0), FAIL when one is above PGD-AT's, else UNDECIDED."""
    robust = spec["robust"]
    name = "pgd_at_most_robust_at_equal_iterations"
    s = f"PGD-AT is the most robust at equal iterations ({_label(spec, robust)})"
    pgd = _estimate(df, "pgd_at", "equal_iterations", robust)
    if not pgd:
        return [Check.not_run(name, s, "PGD-AT not in the equal-iterations protocol")]
    others = {d: _estimate(df, d, "equal_iterations", robust) for d in df["defense"].unique() if d != "pgd_at"}
    diffs = {d: difference(pgd, e) for d, e in others.items() if e is not None}
    if not diffs:
        return [Check(name, Verdict.PASS, f"PGD-AT {pgd}, alone", s)]
    closest = min(diffs, key=lambda d: diffs[d].value)
    d = diffs[closest]
    verdict = all_of(decide(x.interval, ">", 0.0) for x in diffs.values())
    numbers = (
        f"PGD-AT {pgd}; closest: {closest} {others[closest]}, difference {d.value:+.3f} [{d.lo:+.3f}, {d.hi:+.3f}]"
    )
    return [Check(name, verdict, numbers, s)]


def fgsm_rs_reproduces_published(df: pd.DataFrame, spec: dict) -> list[Check]:
    """The calibration: per published FGSM-RS accuracy, the FGSM-RS row trained at the published
    cost (same network, steps and batch: equal TFLOP) lands within the published tolerance: PASS
    when its whole interval is inside [published - tol, published + tol], FAIL when it is wholly
    outside, UNDECIDED when it straddles an edge."""
    name = "fgsm_rs_reproduces_published"
    s = "FGSM-RS reproduces its published numbers"
    pubs = [p for p in spec.get("published", []) if p["defense"] == "fgsm_rs"]
    if not pubs:
        return [Check.not_run(name, s, "no published FGSM-RS result under the frontier's attacks")]
    out = []
    for p in pubs:
        rows = df[(df["defense"] == "fgsm_rs") & (df["protocol"] != "published")]
        rows = rows[(rows["train_tflop"] / p["tflop"] - 1).abs() < 0.01]  # the published cost
        if rows.empty:
            out.append(Check.not_run(name, s, f"no FGSM-RS row at the published cost {p['tflop']:.3g} TFLOP"))
            continue
        r = rows.iloc[0]
        for attack, value in p["accuracies"].items():
            tol = p["tolerance"].get(attack)
            e = _estimate(rows, "fgsm_rs", r["protocol"], attack, r.get("budget"))
            sentence = f"{s}: {_label(spec, attack)} within {tol:.2f} of {value:.4f} ({p['label']})" if tol else s
            if e is None or tol is None:
                out.append(Check.not_run(name, sentence, f"no {attack} result or tolerance", attack))
                continue
            v = all_of([decide(e.interval, ">=", value - tol), decide(e.interval, "<=", value + tol)])
            out.append(Check(name, v, f"{r['trained_as']}: {e}; published {value:.4f}", sentence, attack))
    return out


def no_defense_overfits_catastrophically(snapshots: pd.DataFrame | None, spec: dict) -> Check:
    """FAIL when a snapshot is flagged by :func:`catastrophic_overfitting` (the ``catastrophic_overfitting``
    column of ``snapshots.csv``); NOT RUN without snapshots."""
    name = "no_defense_overfits_catastrophically"
    s = (
        "no defense overfits catastrophically along training (iterative accuracy down by more than "
        f"{spec['overfit_drop']:.2f} between snapshots while the single-step accuracy holds or rises"
        + (
            f", or single-step above iterative by more than {spec['overfit_gap']:.2f}"
            if spec.get("overfit_gap")
            else ""
        )
        + ")"
    )
    if snapshots is None or not len(snapshots):
        return Check.not_run(name, s, "no snapshots along training")
    hit = snapshots[snapshots["catastrophic_overfitting"].astype(str).str.lower() == "true"]
    models = sorted(set(snapshots["model"]))
    numbers = f"{len(models)} models, snapshots at steps {', '.join(map(str, sorted(set(snapshots['step']))))}"
    if not hit.empty:
        numbers += "; flagged: " + ", ".join(
            f"{r.model} at step {r.step}" for r in hit.drop_duplicates(["model", "step"]).itertuples()
        )
    if "overfit_seeds" in snapshots and "seeds" in snapshots:  # the rate: seeds that collapsed, of those run
        rates = []
        for m in models:
            sel = snapshots[snapshots["model"] == m]
            hit_seeds = {t for v in sel["overfit_seeds"].dropna().astype(str) for t in v.split()}
            rates.append(f"{m} {len(hit_seeds)} of {int(sel['seeds'].max())} seeds")
        numbers += "; catastrophic overfitting: " + ", ".join(rates)
    return Check(name, Verdict.PASS if hit.empty else Verdict.FAIL, numbers, s)


#: the claims on the frontier table, in the order of the page (each returns one check per budget or attack)
FRONTIER_STATEMENTS = (
    e2sad_at_least_fgsm_rs_at_equal_cost,
    paper_attack_overstates_e2sad,
    e2sad_comparable_to_ifgsm_at,
    pgd_at_most_robust_at_equal_iterations,
    fgsm_rs_reproduces_published,
)


def frontier_statements(df: pd.DataFrame, spec: dict, snapshots: pd.DataFrame | None = None) -> pd.DataFrame:
    """Claims about the frontier: one line per claim (statement, verdict, numbers, name), PASS,
    FAIL or UNDECIDED on the 95 % intervals (over the test images and the seeds) of the accuracies
    and of their differences, NOT RUN when a defense, protocol or input is absent.  ``snapshots``:
    the rows of ``snapshots.csv`` (robustness along training, with its ``catastrophic_overfitting``
    column), for the claim that no defense overfits catastrophically."""
    checks = [c for claim in FRONTIER_STATEMENTS for c in claim(df, spec)]
    checks.append(no_defense_overfits_catastrophically(snapshots, spec))
    return checks_frame(checks, sentence="statement", numbers="numbers")
