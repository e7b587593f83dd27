"""The checked statements of the frontier (:func:`frontier_statements`): each claim a function of
the frontier table (:func:`.table.frontier_table`) and its spec, returning checks decided on 95 %
intervals (UNDECIDED when the threshold is inside, NOT RUN when a defense, protocol or input is
absent); :func:`no_defense_overfits_catastrophically` reads the snapshots' table instead."""

from __future__ import annotations

import pandas as pd

from ..common import checks_frame
from ..intervals import Estimate, paired_difference
from ..verdict import Check, Verdict, all_of, decide
from .table import parse_per_seed

#: "overstates": the paper's attack (IFGSM-30) above AutoAttack by more than this (gradient masking)
OVERSTATE_MIN = 0.05
#: "comparable": e2SAD's AutoAttack accuracy at most this far below IFGSM-AT's at equal iterations
#: (the paper: e2SAD "achieves robustness comparable to" IFGSM adversarial training)
COMPARABLE_WITHIN = 0.05
#: a difference of two defenses decides a statement only on at least this many paired seeds: with
#: one, the seed-to-seed spread is unknown (:func:`..intervals.seed_half_width` leaves it out), so
#: the interval would be the test images' alone
MIN_PAIRED_SEEDS = 2


def _label(spec: dict, attack: str) -> str:
    return spec.get("attack_labels", {}).get(attack, attack)


def _budgets(df: pd.DataFrame) -> list:
    """The budget multiples of the equal-cost rows ([None] when the table has one budget)."""
    if "budget" not in df.columns:
        return [None]
    return sorted({b for b in df[df["protocol"] == "equal_cost"]["budget"] if not pd.isna(b)})


def _row(df: pd.DataFrame, defense: str, protocol: str, budget=None) -> pd.Series | None:
    """The table's row of a defense under a protocol (and budget), or None when absent."""
    sel = df[(df["defense"] == defense) & (df["protocol"] == protocol)]
    if budget is not None and "budget" in df.columns:
        sel = sel[sel["budget"] == budget]
    return None if sel.empty else sel.iloc[0]


def _estimate(df: pd.DataFrame, defense: str, protocol: str, attack: str, budget=None) -> Estimate | None:
    """The row's accuracy under ``attack`` with its interval (over the seeds that trained), or None
    when the row is absent or no seed of it trained."""
    r = _row(df, defense, protocol, budget)
    if r is None or f"acc[{attack}]" not in r or pd.isna(r[f"acc[{attack}]"]):
        return None
    lo, hi = r.get(f"lo[{attack}]", float("nan")), r.get(f"hi[{attack}]", float("nan"))
    value = float(r[f"acc[{attack}]"])
    lo, hi = (value, value) if pd.isna(lo) or pd.isna(hi) else (float(lo), float(hi))
    n = 0 if pd.isna(r["n"]) else int(r["n"])
    seeds = parse_per_seed(r.get(f"per_seed[{attack}]"))
    return Estimate(value, lo, hi, n, tuple(sorted(seeds)) or tuple(range(int(r["seeds"]))))


def _untrained(r: pd.Series) -> str:
    """``PGD-AT (seeds 0, 2)`` when seeds of the row did not train, else ``""``."""
    raw = r.get("untrained_seeds")
    seeds = [] if pd.isna(raw) else str(raw).split()  # NaN where the table was read back from CSV
    return f"{r['column']} (seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)})" if seeds else ""


def _left_out(*rows: pd.Series) -> str:
    """The seeds a statement left out because they did not train, as a clause of its numbers."""
    parts = [t for t in map(_untrained, rows) if t]
    return f"; left out, did not train: {', '.join(parts)}" if parts else ""


def _compare(df, a: tuple, b: tuple, attack: str) -> tuple[Estimate, Estimate, Estimate, str] | str:
    """(a's estimate, b's, the paired difference a - b, the left-out clause) of two rows given as
    (defense, protocol, budget); or the reason it cannot be decided: a row absent, or no seed of a
    row trained (the statement is then NOT RUN and says which)."""
    ra, rb = _row(df, *a), _row(df, *b)
    if ra is None or rb is None:
        return "absent"
    stuck = [r["column"] for r in (ra, rb) if pd.isna(r[f"acc[{attack}]"])]
    if stuck:
        which = "; ".join(t for t in (_untrained(ra), _untrained(rb)) if t)
        return f"{' and '.join(stuck)} did not train on any seed ({which})"
    sa, sb = parse_per_seed(ra[f"per_seed[{attack}]"]), parse_per_seed(rb[f"per_seed[{attack}]"])
    if not set(sa) & set(sb):
        return f"no seed trained for both {ra['column']} and {rb['column']}"
    d = paired_difference(sa, sb, int(ra["n"]))
    return _estimate(df, *a[:2], attack, a[2]), _estimate(df, *b[:2], attack, b[2]), d, _left_out(ra, rb)


def _diff_text(d: Estimate) -> str:
    text = f"paired difference {d.value:+.3f} [{d.lo:+.3f}, {d.hi:+.3f}] over seeds {', '.join(map(str, d.seeds))}"
    if len(d.seeds) < MIN_PAIRED_SEEDS:
        text += f" (fewer than {MIN_PAIRED_SEEDS} paired seeds: the seed spread is unknown, so UNDECIDED)"
    return text


def _decide(d: Estimate, op: str, threshold: float) -> Verdict:
    """:func:`decide` on a paired difference's interval, UNDECIDED below MIN_PAIRED_SEEDS seeds."""
    return decide(d.interval, op, threshold) if len(d.seeds) >= MIN_PAIRED_SEEDS else Verdict.UNDECIDED


def _at(budget) -> str:
    return "" if budget is None else f" x{budget:g}"


def e2sad_at_least_fgsm_rs_at_equal_cost(df: pd.DataFrame, spec: dict) -> list[Check]:
    """Per budget: FAIL when e2SAD's robust (AutoAttack) accuracy is below FGSM-RS's at equal
    training cost (the 95 % interval of the paired difference below 0), UNDECIDED when it holds 0."""
    robust = spec["robust"]
    name = "e2sad_at_least_fgsm_rs_at_equal_cost"
    s = f"at equal cost, e2SAD's {_label(spec, robust)} accuracy is at least FGSM-RS's"
    out = []
    for b in _budgets(df):
        got = _compare(df, ("e2sad", "equal_cost", b), ("fgsm_rs", "equal_cost", b), robust)
        if isinstance(got, str):
            why = "e2SAD and FGSM-RS not both in the equal-cost protocol" if got == "absent" else got
            out.append(Check.not_run(name, s + _at(b), why, f"budget{_at(b)}"))
            continue
        e2, rs, d, left = got
        numbers = f"e2SAD {e2}, FGSM-RS {rs}; {_diff_text(d)}{left}"
        out.append(Check(name, _decide(d, ">=", 0.0), numbers, s + _at(b), f"budget{_at(b)}"))
    return out


def paper_attack_overstates_e2sad(df: pd.DataFrame, spec: dict) -> list[Check]:
    """PASS when e2SAD's accuracy under the paper's attack (``reference``) exceeds its robust
    (AutoAttack) accuracy by more than OVERSTATE_MIN at equal iterations (the whole interval of
    the difference, paired by seed, above it): the claim is gradient masking."""
    robust, ref = spec["robust"], spec.get("reference")
    name = "paper_attack_overstates_e2sad"
    s = (
        f"e2SAD's {_label(spec, ref or 'reference')} accuracy overstates its {_label(spec, robust)} accuracy "
        f"by more than {OVERSTATE_MIN:.2f} (gradient masking)"
    )
    if not ref:
        return [Check.not_run(name, s, "no reference attack (the paper's) in the frontier")]
    r = _row(df, "e2sad", "equal_iterations")
    if r is None:
        return [Check.not_run(name, s, "e2SAD not in the equal-iterations protocol")]
    a, b = parse_per_seed(r[f"per_seed[{ref}]"]), parse_per_seed(r[f"per_seed[{robust}]"])
    if not set(a) & set(b):
        return [Check.not_run(name, s, f"e2SAD did not train on any seed ({_untrained(r)})")]
    d = paired_difference(a, b, int(r["n"]))
    ea, eb = _estimate(df, "e2sad", "equal_iterations", ref), _estimate(df, "e2sad", "equal_iterations", robust)
    numbers = f"{_label(spec, ref)} {ea}, {_label(spec, robust)} {eb}; {_diff_text(d)}{_left_out(r)}"
    return [Check(name, _decide(d, ">", OVERSTATE_MIN), numbers, s)]


def e2sad_comparable_to_ifgsm_at(df: pd.DataFrame, spec: dict) -> list[Check]:
    """The paper's claim, at its protocol (equal iterations), under the robust attack: PASS when
    e2SAD's accuracy is at most COMPARABLE_WITHIN below IFGSM-AT's over the whole interval of the
    paired difference, FAIL when the whole interval is further below."""
    robust = spec["robust"]
    name = "e2sad_comparable_to_ifgsm_at"
    s = (
        f"e2SAD's robustness is comparable to IFGSM-AT's at equal iterations: its {_label(spec, robust)} "
        f"accuracy at most {COMPARABLE_WITHIN:.2f} below"
    )
    got = _compare(df, ("e2sad", "equal_iterations", None), ("ifgsm_at", "equal_iterations", None), robust)
    if isinstance(got, str):
        why = "e2SAD and IFGSM-AT not both in the equal-iterations protocol" if got == "absent" else got
        return [Check.not_run(name, s, why)]
    e2, it, d, left = got
    numbers = f"e2SAD {e2}, IFGSM-AT {it}; {_diff_text(d)}{left}"
    return [Check(name, _decide(d, ">=", -COMPARABLE_WITHIN), numbers, s)]


def pgd_at_most_robust_at_equal_iterations(df: pd.DataFrame, spec: dict) -> list[Check]:
    """PASS when PGD-AT's robust accuracy is above every other defense's at equal iterations (the
    interval of each paired difference above 0), FAIL when one is above PGD-AT's, else UNDECIDED;
    NOT RUN when PGD-AT did not train (a model stuck at chance says nothing about PGD-AT)."""
    robust = spec["robust"]
    name = "pgd_at_most_robust_at_equal_iterations"
    s = f"PGD-AT is the most robust at equal iterations ({_label(spec, robust)})"
    pgd = _row(df, "pgd_at", "equal_iterations")
    if pgd is None:
        return [Check.not_run(name, s, "PGD-AT not in the equal-iterations protocol")]
    others = [d for d in df[df["protocol"] == "equal_iterations"]["defense"].unique() if d != "pgd_at"]
    got = {d: _compare(df, ("pgd_at", "equal_iterations", None), (d, "equal_iterations", None), robust) for d in others}
    if pd.isna(pgd[f"acc[{robust}]"]):
        return [Check.not_run(name, s, f"PGD-AT did not train on any seed ({_untrained(pgd)})")]
    diffs = {d: g for d, g in got.items() if not isinstance(g, str)}
    skipped = [g for g in got.values() if isinstance(g, str) and g != "absent"]
    est = _estimate(df, "pgd_at", "equal_iterations", robust)
    if not diffs:
        return [Check(name, Verdict.PASS, f"PGD-AT {est}, alone" + (f"; {'; '.join(skipped)}" if skipped else ""), s)]
    closest = min(diffs, key=lambda d: diffs[d][2].value)
    _, other, d, left = diffs[closest]
    parts = {o: _decide(g[2], ">", 0.0) for o, g in diffs.items()}
    verdict = all_of(parts.values())
    numbers = f"PGD-AT {est}; closest: {closest} {other}, {_diff_text(d)}{left}"
    # the comparisons that keep it from PASS, where the closest is not one of them (the noisier
    # difference decides, not the smaller one)
    against = [o for o, v in parts.items() if v != Verdict.PASS and o != closest]
    for o in sorted(against, key=lambda o: diffs[o][2].value):
        numbers += f"; {parts[o]} against {o} {diffs[o][1]}, {_diff_text(diffs[o][2])}"
    if skipped:
        numbers += f"; not compared: {'; '.join(skipped)}"
    return [Check(name, verdict, numbers, s)]


def fgsm_rs_reproduces_published(df: pd.DataFrame, spec: dict) -> list[Check]:
    """The calibration: per published FGSM-RS accuracy, the FGSM-RS row trained at the published
    cost (same network, steps and batch: equal training FLOPs) by the published recipe (a row in
    ``differs``, e.g. trained with an eps warm-up, is not compared), on as many test images as
    published, lands within the published tolerance: PASS when its whole interval is inside
    [published - tol, published + tol], FAIL when it is wholly outside, UNDECIDED when it
    straddles an edge; NOT RUN, saying why, when no row qualifies."""
    name = "fgsm_rs_reproduces_published"
    s = "FGSM-RS reproduces its published numbers"
    pubs = [p for p in spec.get("published", []) if p["defense"] == "fgsm_rs"]
    if not pubs:
        return [Check.not_run(name, s, "no published FGSM-RS result under the frontier's attacks")]
    out = []
    for p in pubs:
        rows = df[(df["defense"] == "fgsm_rs") & (df["protocol"] != "published")]
        rows = rows[(rows["train_flops"] / p["train_flops"] - 1).abs() < 0.01]  # the published cost
        if rows.empty:
            cost = f"{p['train_flops'] / 1e12:.3g} training TFLOP"
            out.append(Check.not_run(name, s, f"no FGSM-RS row at the published cost {cost}"))
            continue
        differs = p.get("differs") or {}
        same = rows[~rows["trained_as"].isin(list(differs))]
        if same.empty:
            r = rows.iloc[0]
            why = f"{r['trained_as']} trained otherwise: {differs[r['trained_as']]}; not the published recipe"
            out.append(Check.not_run(name, s, why))
            continue
        rows = same
        r = rows.iloc[0]
        if p.get("n_test") and not pd.isna(r["n"]) and int(r["n"]) != p["n_test"]:
            out.append(
                Check.not_run(
                    name,
                    s,
                    f"published on {p['n_test']:,} test images, measured here on {int(r['n']):,}: "
                    "not the same images (evaluate this row on the whole test set to compare)",
                )
            )
            continue
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


def overfitting_rule(spec: dict) -> str:
    """The catastrophic-overfitting detector's rule (:func:`.snapshots.catastrophic_overfitting`)
    in words, with the snapshot spec's ``overfit_drop`` and, when set, ``overfit_hold`` and
    ``overfit_gap``: the statement and the snapshots page both say it."""
    hold = spec.get("overfit_hold")
    held = f"holds (falls by at most {hold:.2f}) or rises" if hold else "holds or rises"
    gap = spec.get("overfit_gap")
    return (
        f"iterative accuracy down by more than {spec['overfit_drop']:.2f} between snapshots while the "
        f"single-step accuracy {held}" + (f", or single-step above iterative by more than {gap:.2f}" if gap else "")
    )


def no_defense_overfits_catastrophically(snapshots: pd.DataFrame | None, spec: dict) -> Check:
    """FAIL when a snapshot is flagged by :func:`catastrophic_overfitting` (the ``catastrophic_overfitting``
    column of ``snapshots.csv``); NOT RUN without snapshots."""
    name = "no_defense_overfits_catastrophically"
    s = f"no defense overfits catastrophically along training ({overfitting_rule(spec)})"
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
