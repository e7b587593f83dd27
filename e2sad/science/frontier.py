"""The cost-robustness frontier (``snakemake frontier``): e2SAD against the fast adversarial
training methods that followed it (FGSM-RS, PGD-AT, TRADES), at equal cost, under AutoAttack.

Two protocols, named on every artifact:

- ``equal_iterations`` (the paper's): every defense with the same steps and batch; these are
  the models ``all`` trains (nothing is trained twice);
- ``equal_cost``: every defense trained for the number of steps whose training cost equals the
  budget model's (by default e2SAD's), cost counted as the workflow counts it everywhere
  (:meth:`e2sad.plan.Study.train_cost`: steps x batch x the defense's declared passes, each
  pass one forward's FLOPs; for the CNNs here F, B_in and B_w are within ~10 % of each other).
  The derived model is ``<model>__equal_cost`` (the budget model itself is not trained again);
- ``own_recipe``: a method's own published training recipe (``frontier.recipes``: steps, batch
  size, optimizer, learning rate, schedule), for the models that declare one
  (``<model>__own_recipe``).

The table gives per (model, protocol) the steps, the training TFLOP, the measured step time
x natural, and the accuracy under each frontier attack (mean +- std over seeds); the figure
AutoAttack (the ``robust`` attack) accuracy against training TFLOP (log x).
"""

from __future__ import annotations

import html
import math

import pandas as pd

from ..errors import DataError
from ..render import BREAK, write_table
from .common import caption, checks_frame, mean_std, verdict_style
from .intervals import Estimate, accuracy, difference
from .verdict import Check, Verdict, all_of, decide, tally

PROTOCOLS = ("equal_iterations", "equal_cost", "own_recipe")
#: the training keys a recipe may set (the rest come from training.<dataset>)
RECIPE_KEYS = ("batch_size", "optimizer", "lr", "schedule")
SEP = "__"


def frontier_model_name(model: str, protocol: str, multiple: float = 1) -> str:
    """The model a (declared model, protocol, budget multiple) cell is trained as."""
    if protocol == "equal_iterations":
        return model
    return f"{model}{SEP}{protocol}" + ("" if multiple == 1 else f"_x{multiple:g}")


def equal_cost_steps(budget_cost: float, step_cost: float) -> int:
    """Steps whose cost is the budget's (at least 1): round(budget / cost of one step)."""
    if step_cost <= 0:
        raise DataError(f"frontier: a training step of cost {step_cost} cannot be budgeted")
    return max(1, int(round(budget_cost / step_cost)))


#: keys of a model entry that place it in a table but do not change how it is trained
PLACEMENT_KEYS = ("column", "label", "train_steps")


def _plan(config: dict, step_cost) -> tuple[dict[str, dict], list[tuple]]:
    """The frontier's derived model entries and its cells (declared model, protocol, trained model,
    budget multiple or None), in the config's order.  A derived entry that trains exactly as a
    declared model (the same defense, hyperparameters and steps) is that model: nothing is trained
    twice (the budget model at multiple 1, a model whose equal-cost steps are its own)."""
    from ..config import schema_default

    fr = config.get("frontier") or {}
    if not fr:
        return {}, []
    models = config["models"]

    def steps_of(m: dict) -> int:
        return int(m.get("train_steps", config["training"][m["dataset"]]["steps"]))

    def training(m: dict) -> tuple:
        return tuple(sorted((k, repr(v)) for k, v in m.items() if k not in PLACEMENT_KEYS)) + (steps_of(m),)

    declared = {}
    for name, m in models.items():
        declared.setdefault(training(m), name)
    entries, cells = {}, []

    def add(model: str, protocol: str, entry: dict, multiple) -> None:
        key = training(entry)
        own = model if key == training(models[model]) else None
        trained = own or declared.get(key) or frontier_model_name(model, protocol, multiple or 1)
        if trained not in models:
            entries[trained] = entry
        cells.append((model, protocol, trained, multiple))

    budget = fr.get("budget", fr["models"][0])
    recipes = fr.get("recipes") or {}
    for protocol in fr.get("protocols", []):
        for name in fr["models"]:
            m = models.get(name)
            if m is None:
                continue
            if protocol == "equal_iterations":
                cells.append((name, protocol, name, None))
            elif protocol == "own_recipe" and name in recipes:
                r = recipes[name]
                recipe = {k: r[k] for k in RECIPE_KEYS if k in r}
                add(name, protocol, {**m, "train_steps": int(r["steps"]), "train_recipe": recipe}, None)
        if protocol == "equal_cost" and budget in models:
            unit = fr.get("budget_steps", steps_of(models[budget])) * step_cost(models[budget])
            for multiple in fr["budgets"] if "budgets" in fr else schema_default("frontier.budgets"):
                for name in fr["models"]:
                    m = models.get(name)
                    if m is not None:
                        steps = equal_cost_steps(multiple * unit, step_cost(m))
                        add(name, protocol, {**m, "train_steps": steps}, multiple)
    return entries, cells


def frontier_models(config: dict, step_cost) -> dict[str, dict]:
    """The model entries the frontier adds: for ``equal_cost``, each model's own entry with
    ``train_steps`` set so that its training cost is ``multiple`` x the unit (the budget model's
    cost at ``frontier.budget_steps``, by default its own steps) for each multiple of
    ``frontier.budgets``; for ``own_recipe``, each model of ``frontier.recipes`` with the recipe's
    steps and ``train_recipe`` (batch size, optimizer, lr, schedule).  ``step_cost(entry)``: the
    cost of one training step of a model entry (the Study's count)."""
    return _plan(config, step_cost)[0]


def frontier_cells(config: dict, step_cost) -> list[tuple[str, str, str, float | None]]:
    """(declared model, protocol, trained model, budget multiple) of every frontier row, in the
    config's order (the multiple is None outside the equal-cost protocol)."""
    return _plan(config, step_cost)[1]


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


# --------------------------------------------------------------------------- #
# Checked statements: each on 95 % intervals (UNDECIDED when the threshold is inside)
# --------------------------------------------------------------------------- #

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


# --------------------------------------------------------------------------- #
# Output
# --------------------------------------------------------------------------- #


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


def plot_frontier(df: pd.DataFrame, spec: dict, outputs: list[str]) -> None:
    """Robust (AutoAttack) accuracy against training TFLOP (log x): per defense one line through
    its equal-cost budgets (open squares), its equal-iterations model (filled circle) and own
    recipe (diamond), 95 % intervals as error bars, e2SAD drawn larger; each published result
    a black star at its own training cost, labelled with its attack (the paper's e2SAD point is
    its IFGSM-30 accuracy, not AutoAttack)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    robust = spec["robust"]
    labels = spec.get("attack_labels", {})
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    measured = df[df["protocol"] != "published"]
    defenses = list(dict.fromkeys(measured["defense"]))
    colours = {d: plt.cm.tab10(i % 10) for i, d in enumerate(defenses)}
    for i, d in enumerate(defenses):
        sel = measured[measured["defense"] == d]
        c, big = colours[d], d == "e2sad"
        column = sel["column"].iloc[0]
        # equal-cost points share their budget's cost: spread the defenses by a few percent in x
        spread = 1.06 ** (i - (len(defenses) - 1) / 2)
        for protocol, marker in (("equal_cost", "s"), ("equal_iterations", "o"), ("own_recipe", "D")):
            pts = sel[sel["protocol"] == protocol].drop_duplicates("trained_as").sort_values("train_tflop")
            if pts.empty:
                continue
            acc = pts[f"acc[{robust}]"]
            err = [(acc - pts[f"lo[{robust}]"]).clip(lower=0), (pts[f"hi[{robust}]"] - acc).clip(lower=0)]
            ax.errorbar(
                pts["train_tflop"] * (spread if protocol == "equal_cost" else 1),
                acc,
                yerr=err,
                fmt=marker + ("-" if protocol == "equal_cost" and len(pts) > 1 else ""),
                ms=10 if big else 6,
                mfc="white" if protocol == "equal_cost" else c,
                mec=c,
                mew=2.5 if big else 1.5,
                color=c,
                lw=2.5 if big else 1.2,
                capsize=3,
                zorder=4 if big else 3,
                label=f"{column} ({protocol.replace('_', ' ')})",
            )
    all_tflop = [*measured["train_tflop"], *(p["tflop"] for p in spec.get("published", []))]
    for p in spec.get("published", []):
        attack = robust if robust in p["accuracies"] else spec.get("reference")
        value = p["accuracies"].get(attack)
        if value is None:
            continue
        note = "" if attack == robust else f",\nnot {labels.get(robust, robust)}"
        ax.plot(
            [p["tflop"]],
            [value],
            marker="*",
            ms=15,
            color="black",
            ls="none",
            zorder=5,
            label=f"{p['label']}, published\n({labels.get(attack, attack)} {value:.4f}{note})",
        )
        # a short tag beside the star (the full label is in the legend), towards the wider side
        # of the log-x axis, above it (a published point's accuracy is high: the plot is empty there)
        lo, hi = math.log(min(all_tflop)), math.log(max(all_tflop))
        right = math.log(p["tflop"]) < (lo + hi) / 2
        ax.annotate(
            p["label"].split(",")[0] + ("" if attack == robust else f" ({labels.get(attack, attack)})"),
            (p["tflop"], value),
            textcoords="offset points",
            xytext=(8 if right else -8, 4),
            ha="left" if right else "right",
            va="bottom",
            fontsize=7,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            zorder=6,
        )
    _finish(
        fig,
        ax,
        spec,
        "training cost (TFLOP, log scale)",
        f"accuracy under {labels.get(robust, robust)} (95 % interval)",
        outputs,
    )


def _finish(fig, ax, spec: dict, xlabel: str, ylabel: str, outputs: list[str]) -> None:
    """Log x, accuracy y in [0, 1], the title with the scale note wrapped, the legend outside, saved at 300 dpi."""
    import textwrap

    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    lo, hi = ax.get_xlim()
    ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5) if hi / lo < 1e3 else (1,)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())  # no crowded labels between the decades
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    title = spec["title"]
    if spec.get("note"):
        title += "\n" + "\n".join(textwrap.wrap(f"[{spec['note']}]", 90))
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    for o in outputs:
        fig.savefig(o, dpi=300, bbox_inches="tight")
    plt.close(fig)


# --------------------------------------------------------------------------- #
# Robustness along training (snapshots) and catastrophic overfitting
# --------------------------------------------------------------------------- #

#: snapshot rows are evaluated as "<model>@step<N>"
STEP_TAG = "@step"


def snapshot_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Evaluation rows of snapshots (model names ``<model>@step<N>``) as model, step, attack_name,
    accuracy (mean over seeds), std, seeds, n."""
    out = []
    for (name, attack), sel in rows.groupby(["model", "attack_name"], sort=False):
        if STEP_TAG not in name:
            raise DataError(f"snapshots: row of model '{name}' is not a snapshot (<model>{STEP_TAG}<N>)")
        model, step = name.rsplit(STEP_TAG, 1)
        mean, std, k = mean_std(sel["accuracy"])
        out.append(
            {"model": model, "step": int(step), "attack_name": attack, "accuracy": mean, "std": std, "seeds": k}
            | {"n": int(sel["n"].iloc[0])}
        )
    return pd.DataFrame(out).sort_values(["model", "attack_name", "step"], kind="stable").reset_index(drop=True)


def snapshot_seeds(rows: pd.DataFrame) -> pd.DataFrame:
    """Evaluation rows of snapshots as model, seed, step, attack_name, accuracy: one row per seed,
    for :func:`catastrophic_overfitting` (a collapse of one seed is averaged away by the mean)."""
    model, step = zip(*(name.rsplit(STEP_TAG, 1) for name in rows["model"])) if len(rows) else ((), ())
    seed = rows["seed"] if "seed" in rows else [None] * len(rows)
    return pd.DataFrame(
        {
            "model": list(model),
            "seed": list(seed),
            "step": [int(s) for s in step],
            "attack_name": list(rows["attack_name"]),
            "accuracy": list(rows["accuracy"]),
        }
    )


def catastrophic_overfitting(
    frame: pd.DataFrame, single_step: str, iterative: str, drop: float = 0.2, gap: float | None = None
) -> pd.DataFrame:
    """The known failure of single-step training (Wong et al. 2020): between two consecutive
    snapshots the iterative attack's accuracy falls by more than ``drop`` while the single-step
    attack's holds or rises, seed by seed (``frame``: :func:`snapshot_seeds`; without a ``seed``
    column, one series per model).  ``gap`` (None: not checked) also flags a snapshot whose
    single-step accuracy exceeds its iterative accuracy by more than ``gap``: a model that overfits
    before its first snapshot never falls, it is never robust (Wong et al.'s Figure: FGSM accuracy
    near 100 % while PGD's is near 0).  One row per (model, seed, step) flagged: step_before
    (the step itself for a gap), step, the two accuracies of each attack."""
    frame = frame if "seed" in frame else frame.assign(seed=None)
    out = []
    for (model, seed), sel in frame.groupby(["model", "seed"], sort=False, dropna=False):
        it = sel[sel["attack_name"] == iterative].set_index("step")["accuracy"]
        ss = sel[sel["attack_name"] == single_step].set_index("step")["accuracy"]
        steps = sorted(set(it.index) & set(ss.index))
        for a, b in zip(steps[:1] + steps, steps):  # (first, first), then consecutive pairs
            fell = a != b and it[a] - it[b] > drop and ss[b] >= ss[a]
            never = gap is not None and ss[b] - it[b] > gap
            if fell or never:
                a = a if fell else b
                out.append(
                    {
                        "model": model,
                        "seed": None if pd.isna(seed) else int(seed),
                        "step_before": a,
                        "step": b,
                        f"acc[{iterative}]": f"{it[a]:.4f} -> {it[b]:.4f}",
                        f"acc[{single_step}]": f"{ss[a]:.4f} -> {ss[b]:.4f}",
                    }
                )
    columns = ["model", "seed", "step_before", "step", f"acc[{iterative}]", f"acc[{single_step}]"]
    return pd.DataFrame(out, columns=columns)


def _seeds_text(seeds) -> str:
    return " ".join(str(s) for s in sorted(seeds) if s is not None)


def render_snapshots(frame: pd.DataFrame, flags: pd.DataFrame, spec: dict, out_csv, out_html) -> None:
    """The snapshot accuracies (tidy CSV with a ``catastrophic_overfitting`` column) and an HTML
    page: per model and attack the accuracy at each step, and the flagged steps."""
    flagged: dict[tuple, set] = {}
    for r in flags.itertuples():
        flagged.setdefault((r.model, r.step), set()).add(r.seed)
    keys = list(zip(frame["model"], frame["step"]))
    tidy = frame.assign(
        catastrophic_overfitting=[k in flagged for k in keys],
        overfit_seeds=[_seeds_text(flagged.get(k, ())) for k in keys],  # which seeds collapsed there
    )
    labels = spec.get("attack_labels", {})
    info = spec.get("model_info", {})
    show = tidy.pivot_table(index=["model", "attack_name"], columns="step", values="accuracy", sort=False)
    show.index = [
        f"{info.get(m, {}).get('column', m)} ({info.get(m, {}).get('label', '')}), {labels.get(a, a)}"
        for m, a in show.index
    ]
    show = show.map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    show.columns = [f"step {c:,}" for c in show.columns]
    show.index.name = "model, attack"
    check = no_defense_overfits_catastrophically(tidy, spec)
    if len(flags):
        items = "".join(
            f"<li>{html.escape(r.model)}{'' if r.seed is None or pd.isna(r.seed) else f', seed {int(r.seed)}'}: "
            + (f"steps {r.step_before:,} -> {r.step:,}" if r.step_before != r.step else f"step {r.step:,} (gap)")
            + "</li>"
            for r in flags.itertuples()
        )
        verdict = (
            f"<p><b>{check.verdict}: catastrophic overfitting</b> (iterative accuracy down by more than "
            f"{spec['overfit_drop']:.2f} between snapshots while the single-step accuracy holds or rises"
            + (
                f"; gap: single-step above iterative by more than {spec['overfit_gap']:.2f}"
                if spec.get("overfit_gap")
                else ""
            )
            + "):</p>"
            f"<ul>{items}</ul>"
        )
    else:
        verdict = (
            f"<p><b>{check.verdict}: no catastrophic overfitting</b> (no drop above {spec['overfit_drop']:.2f}).</p>"
        )
    text = caption(
        spec,
        f"{spec['title']}: accuracy of each model's snapshots under "
        + ", ".join(labels.get(a, a) for a in spec["attacks"]),
    )
    write_table(tidy, show, caption=text, label="snapshots", csv=out_csv, html_path=out_html, html_extra=verdict)


def plot_snapshots(frame: pd.DataFrame, flags: pd.DataFrame, spec: dict, outputs: list[str]) -> None:
    """Accuracy against training step (log x): one colour per model, one line style per attack
    (solid: iterative, dashed: single-step); catastrophic overfitting marked with a red cross."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = spec.get("attack_labels", {})
    info = spec.get("model_info", {})
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    models = list(dict.fromkeys(frame["model"]))
    for i, m in enumerate(models):
        for a in spec["attacks"]:
            sel = frame[(frame["model"] == m) & (frame["attack_name"] == a)]
            style = "--" if a == spec.get("single_step") else "-"
            name = f"{info.get(m, {}).get('column', m)}, {labels.get(a, a)}"
            ax.plot(sel["step"], sel["accuracy"], style, marker="o", ms=3, color=plt.cm.tab10(i % 10), label=name)
    for r in flags.itertuples():
        sel = frame[
            (frame["model"] == r.model) & (frame["attack_name"] == spec["iterative"]) & (frame["step"] == r.step)
        ]
        ax.plot(sel["step"], sel["accuracy"], "x", color="red", ms=12, mew=3)
    if len(flags):
        ax.plot([], [], "x", color="red", ms=10, mew=3, label="catastrophic overfitting\n(a seed flagged at that step)")
    _finish(fig, ax, spec, "training step (log scale)", "accuracy", outputs)
