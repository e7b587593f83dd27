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
from ..render import BREAK, fmt_ms, write_table
from .common import caption, checks_frame, mean_std, verdict_style
from .verdict import Check, Verdict, decide, tally

PROTOCOLS = ("equal_iterations", "equal_cost", "own_recipe")
#: the training keys a recipe may set (the rest come from training.<dataset>)
RECIPE_KEYS = ("batch_size", "optimizer", "lr", "schedule")
SEP = "__"


def frontier_model_name(model: str, protocol: str) -> str:
    """The model a (declared model, protocol) cell is trained as."""
    return model if protocol == "equal_iterations" else f"{model}{SEP}{protocol}"


def equal_cost_steps(budget_cost: float, step_cost: float) -> int:
    """Steps whose cost is the budget's (at least 1): round(budget / cost of one step)."""
    if step_cost <= 0:
        raise DataError(f"frontier: a training step of cost {step_cost} cannot be budgeted")
    return max(1, int(round(budget_cost / step_cost)))


def frontier_models(config: dict, step_cost) -> dict[str, dict]:
    """The model entries the frontier adds: for ``equal_cost``, each model's own entry with
    ``train_steps`` set so that its training cost equals the budget model's; for ``own_recipe``,
    each model of ``frontier.recipes`` with the recipe's steps and ``train_recipe`` (batch size,
    optimizer, lr, schedule).  ``step_cost(entry)``: the cost of one training step of a model
    entry (the Study's count)."""
    fr = config.get("frontier") or {}
    out = {}
    if fr and "own_recipe" in fr.get("protocols", []):
        for name, r in (fr.get("recipes") or {}).items():
            if name in config["models"]:
                recipe = {k: r[k] for k in RECIPE_KEYS if k in r}
                entry = {**config["models"][name], "train_steps": int(r["steps"]), "train_recipe": recipe}
                out[frontier_model_name(name, "own_recipe")] = entry
    if not fr or "equal_cost" not in fr.get("protocols", []):
        return out
    models = config["models"]
    budget = fr.get("budget", fr["models"][0])
    if budget not in models:
        return out

    def steps_of(m: dict) -> int:
        return int(m.get("train_steps", config["training"][m["dataset"]]["steps"]))

    total = steps_of(models[budget]) * step_cost(models[budget])
    for name in fr["models"]:
        if name == budget or name not in models:
            continue
        m = models[name]
        out[frontier_model_name(name, "equal_cost")] = {**m, "train_steps": equal_cost_steps(total, step_cost(m))}
    return out


def frontier_cells(config: dict) -> list[tuple[str, str, str]]:
    """(declared model, protocol, trained model) of every frontier row, in the config's order."""
    fr = config.get("frontier") or {}
    budget = fr.get("budget", (fr.get("models") or [None])[0])
    cells = []
    for protocol in fr.get("protocols", []):
        for m in fr.get("models", []):
            if protocol == "own_recipe" and m not in (fr.get("recipes") or {}):
                continue
            trained = m if (protocol == "equal_iterations" or m == budget) else frontier_model_name(m, protocol)
            cells.append((m, protocol, trained))
    return cells


def frontier_table(rows: pd.DataFrame, costs: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """One line per (model, protocol): defense, steps, training TFLOP, step time x natural and the
    accuracy under every frontier attack (mean, std over seeds).

    ``rows``: evaluation rows (model, attack_name, accuracy, n, seed); ``costs``: training cost
    rows of the trained models (:func:`e2sad.costs.cost_rows`: model, defense, steps,
    median_step_s); ``spec``: cells [[model, protocol, trained]], attacks, attack_labels,
    model_info {trained: {column, label, defense, steps, tflop}}, robust (the AutoAttack name),
    natural (the trained model whose step time is the unit, or null).
    """
    nat_step = None
    if spec.get("natural"):
        sel = costs[costs["model"] == spec["natural"]]["median_step_s"]
        nat_step = float(sel.median()) if len(sel) else None
    out = []
    for model, protocol, trained in spec["cells"]:
        info = spec["model_info"][trained]
        line = {
            "model": model,
            "protocol": protocol,
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
            mean, std, k = mean_std(sel["accuracy"])
            seeds, n = max(seeds, k), int(sel["n"].iloc[0])
            line[f"acc[{attack}]"] = mean
            line[f"std[{attack}]"] = std
        line.update(seeds=seeds, n=n)
        out.append(line)
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- #
# Checked statements
# --------------------------------------------------------------------------- #

#: "overstates": the paper's attack (IFGSM-30) above AutoAttack by more than this (gradient masking)
OVERSTATE_MIN = 0.05


def _label(spec: dict, attack: str) -> str:
    return spec.get("attack_labels", {}).get(attack, attack)


def _acc(df: pd.DataFrame, defense: str, protocol: str, attack: str) -> tuple[float, str] | None:
    sel = df[(df["defense"] == defense) & (df["protocol"] == protocol)]
    if sel.empty or f"acc[{attack}]" not in sel:
        return None
    r = sel.iloc[0]
    return float(r[f"acc[{attack}]"]), str(r["model"])


def e2sad_at_least_fgsm_rs_at_equal_cost(df: pd.DataFrame, spec: dict) -> Check:
    """FAIL when, at equal training cost, e2SAD's robust (AutoAttack) accuracy is below FGSM-RS's."""
    robust = spec["robust"]
    name = "e2sad_at_least_fgsm_rs_at_equal_cost"
    s = f"at equal cost, e2SAD's {_label(spec, robust)} accuracy is at least FGSM-RS's"
    e2, rs = _acc(df, "e2sad", "equal_cost", robust), _acc(df, "fgsm_rs", "equal_cost", robust)
    if not (e2 and rs):
        return Check.not_run(name, s, "e2SAD and FGSM-RS not both in the equal-cost protocol")
    n = int(df["n"].max())
    se = 0.5 / math.sqrt(n) if n else float("nan")
    numbers = f"e2SAD {e2[0]:.4f}, FGSM-RS {rs[0]:.4f} (std of one accuracy <= {se:.3f})"
    return Check(name, decide(e2[0], ">=", rs[0]), numbers, s)


def paper_attack_overstates_e2sad(df: pd.DataFrame, spec: dict) -> Check:
    """PASS when e2SAD's accuracy under the paper's attack (``reference``) exceeds its robust
    (AutoAttack) accuracy by more than OVERSTATE_MIN at equal iterations: the claim is gradient masking."""
    robust, ref = spec["robust"], spec.get("reference")
    name = "paper_attack_overstates_e2sad"
    s = (
        f"e2SAD's {_label(spec, ref or 'reference')} accuracy overstates its {_label(spec, robust)} accuracy "
        f"by more than {OVERSTATE_MIN:.2f} (gradient masking)"
    )
    if not ref:
        return Check.not_run(name, s, "no reference attack (the paper's) in the frontier")
    a, b = _acc(df, "e2sad", "equal_iterations", ref), _acc(df, "e2sad", "equal_iterations", robust)
    if not (a and b):
        return Check.not_run(name, s, "e2SAD not in the equal-iterations protocol")
    return Check(name, decide(a[0] - b[0], ">", OVERSTATE_MIN), f"{a[0]:.4f} vs {b[0]:.4f}: {a[0] - b[0]:+.4f}", s)


def pgd_at_most_robust_at_equal_iterations(df: pd.DataFrame, spec: dict) -> Check:
    """FAIL when another defense has the highest robust (AutoAttack) accuracy at equal iterations."""
    robust = spec["robust"]
    name = "pgd_at_most_robust_at_equal_iterations"
    s = f"PGD-AT is the most robust at equal iterations ({_label(spec, robust)})"
    sel = df[df["protocol"] == "equal_iterations"]
    pgd = _acc(df, "pgd_at", "equal_iterations", robust)
    if sel.empty or not pgd:
        return Check.not_run(name, s, "PGD-AT not in the equal-iterations protocol")
    best = sel.loc[sel[f"acc[{robust}]"].idxmax()]
    verdict = Verdict.PASS if best["defense"] == "pgd_at" else Verdict.FAIL
    return Check(name, verdict, f"most robust: {best['model']} {best[f'acc[{robust}]']:.4f}; PGD-AT {pgd[0]:.4f}", s)


def no_defense_overfits_catastrophically(snapshots: pd.DataFrame | None, spec: dict) -> Check:
    """FAIL when a snapshot is flagged by :func:`catastrophic_overfitting` (the ``catastrophic_overfitting``
    column of ``snapshots.csv``); NOT RUN without snapshots."""
    name = "no_defense_overfits_catastrophically"
    s = (
        "no defense overfits catastrophically along training (iterative accuracy down by more than "
        f"{spec['overfit_drop']:.2f} between snapshots while the single-step accuracy holds or rises)"
    )
    if snapshots is None or not len(snapshots):
        return Check.not_run(name, s, "no snapshots along training")
    hit = snapshots[snapshots["catastrophic_overfitting"].astype(str).str.lower() == "true"]
    models = sorted(set(snapshots["model"]))
    numbers = f"{len(models)} models, snapshots at steps {', '.join(map(str, sorted(set(snapshots['step']))))}" + (
        "" if hit.empty else "; flagged: " + ", ".join(f"{r.model} at step {r.step}" for r in hit.itertuples())
    )
    return Check(name, Verdict.PASS if hit.empty else Verdict.FAIL, numbers, s)


#: the claims on the frontier table, in the order of the page
FRONTIER_STATEMENTS = (
    e2sad_at_least_fgsm_rs_at_equal_cost,
    paper_attack_overstates_e2sad,
    pgd_at_most_robust_at_equal_iterations,
)


def frontier_statements(df: pd.DataFrame, spec: dict, snapshots: pd.DataFrame | None = None) -> pd.DataFrame:
    """Claims about the frontier: one line per claim (statement, verdict, numbers, name), PASS/FAIL
    with the numbers behind it, NOT RUN when a defense, protocol or input is absent.  The verdicts
    are on means; with one seed or few test images a difference below the binomial std (about
    sqrt(p(1-p)/n)) does not tell the defenses apart.  ``snapshots``: the rows of ``snapshots.csv``
    (robustness along training, with its ``catastrophic_overfitting`` column), for the claim that no
    defense overfits catastrophically."""
    checks = [claim(df, spec) for claim in FRONTIER_STATEMENTS]
    checks.append(no_defense_overfits_catastrophically(snapshots, spec))
    return checks_frame(checks, sentence="statement", numbers="numbers")


# --------------------------------------------------------------------------- #
# Output
# --------------------------------------------------------------------------- #


def render_frontier(df: pd.DataFrame, statements: pd.DataFrame, spec: dict, out_csv, out_tex, out_html) -> None:
    """The frontier table as CSV (tidy), LaTeX and HTML (with the checked statements)."""
    labels = spec.get("attack_labels", {})
    show = pd.DataFrame(index=[f"{r.column} ({r.label})" for r in df.itertuples()])
    show.index.name = "defense"
    show["protocol"] = [p.replace("_", " ") for p in df["protocol"]]
    show["steps"] = [f"{s:,}" for s in df["steps"]]
    show["train TFLOP"] = [f"{t:.3g}" for t in df["train_tflop"]]
    show["step x natural"] = ["" if pd.isna(x) else f"{x:.1f}" for x in df["step_x_natural"]]
    for a in spec["attacks"]:
        show[labels.get(a, a)] = [
            fmt_ms(m, s, k, sep=BREAK) for m, s, k in zip(df[f"acc[{a}]"], df[f"std[{a}]"], df["seeds"])
        ]
    n = int(df["n"].max()) if len(df) else 0
    lines = "".join(
        f'<li><b style="{verdict_style(r.verdict)}">{html.escape(r.verdict)}</b> {html.escape(r.statement)}: '
        f"{html.escape(r.numbers)}</li>"
        for r in statements.itertuples()
    )
    counts = f" ({tally(statements['verdict'])})" if len(statements) else ""
    text = caption(
        spec,
        f"{spec['title']}: accuracy on the first {n} test images; "
        "equal iterations = the paper's protocol (the same steps and batch for every defense), "
        f"equal cost = each defense trained for the steps whose training FLOPs equal {spec['budget']}'s"
        + ("; own recipe = the method's published recipe." if "own_recipe" in set(df["protocol"]) else "."),
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
    """Robust (AutoAttack) accuracy against training TFLOP (log x): one marker per defense and
    protocol (filled circle: equal iterations, open square: equal cost, spread by 5 % steps in x
    since they share one cost; diamond: own recipe), error bars over seeds, e2SAD drawn larger,
    and the paper's claimed e2SAD point (its IFGSM-30 accuracy, not AutoAttack) apart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    robust = spec["robust"]
    labels = spec.get("attack_labels", {})
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    defenses = list(dict.fromkeys(df["defense"]))
    colours = {d: plt.cm.tab10(i % 10) for i, d in enumerate(defenses)}
    drawn = set()
    # the equal-cost points share one cost: spread them by a few percent in x so each stays visible
    spread = [t for t in dict.fromkeys(df[df["protocol"] == "equal_cost"]["trained_as"]) if t != spec.get("budget")]
    for _, r in df.iterrows():
        if r["trained_as"] in drawn:  # the budget model: one point, in both protocols
            continue
        drawn.add(r["trained_as"])
        x = r["train_tflop"]
        if r["trained_as"] in spread:
            x *= 1.05 ** (spread.index(r["trained_as"]) + 1 - (len(spread) + 1) / 2)
        both = r["trained_as"] in set(df[df["protocol"] != r["protocol"]]["trained_as"])
        protocol_label = "both protocols: the equal-cost budget" if both else r["protocol"].replace("_", " ")
        acc, std = r[f"acc[{robust}]"], r[f"std[{robust}]"]
        filled = r["protocol"] != "equal_cost"
        big = r["defense"] == "e2sad"
        c = colours[r["defense"]]
        ax.errorbar(
            x,
            acc,
            yerr=None if pd.isna(std) else std,
            fmt={"equal_iterations": "o", "own_recipe": "D"}.get(r["protocol"], "s"),
            ms=11 if big else 7,
            mfc=c if filled else "white",
            mec=c,
            mew=2.5 if big else 1.5,
            ecolor=c,
            capsize=3,
            zorder=4 if big else 3,  # e2SAD on top of the equal-cost squares around its budget
            label=f"{r['column']} ({protocol_label})",
        )
    paper = spec.get("paper_point")
    if paper and paper.get("value") is not None:
        e2 = df[(df["defense"] == "e2sad") & (df["protocol"] == "equal_iterations")]
        x = float(e2["train_tflop"].iloc[0]) if len(e2) else float(df["train_tflop"].median())
        ax.plot([x], [paper["value"]], marker="*", ms=15, color="black", ls="none")
        ax.annotate(
            f"paper's e2SAD: {paper['label']}\n(not AutoAttack; paper's budget)",
            (x, paper["value"]),
            textcoords="offset points",
            xytext=(8, -4),
            fontsize=7,
            va="top",
        )
    _finish(
        fig,
        ax,
        spec,
        "training cost (TFLOP, log scale)",
        f"accuracy under {labels.get(robust, robust)}",
        outputs,
    )


def _finish(fig, ax, spec: dict, xlabel: str, ylabel: str, outputs: list[str]) -> None:
    """Log x, accuracy y in [0, 1], the title with the scale note wrapped, the legend outside, saved at 300 dpi."""
    import textwrap

    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
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


def catastrophic_overfitting(frame: pd.DataFrame, single_step: str, iterative: str, drop: float = 0.2) -> pd.DataFrame:
    """The known failure of single-step training (Wong et al. 2020): between two consecutive
    snapshots the iterative attack's accuracy falls by more than ``drop`` while the single-step
    attack's holds or rises.  One row per (model, step) where it happens: step_before, step,
    the two accuracies of each attack."""
    out = []
    for model, sel in frame.groupby("model", sort=False):
        it = sel[sel["attack_name"] == iterative].set_index("step")["accuracy"]
        ss = sel[sel["attack_name"] == single_step].set_index("step")["accuracy"]
        steps = sorted(set(it.index) & set(ss.index))
        for a, b in zip(steps, steps[1:]):
            if it[a] - it[b] > drop and ss[b] >= ss[a]:
                out.append(
                    {
                        "model": model,
                        "step_before": a,
                        "step": b,
                        f"acc[{iterative}]": f"{it[a]:.4f} -> {it[b]:.4f}",
                        f"acc[{single_step}]": f"{ss[a]:.4f} -> {ss[b]:.4f}",
                    }
                )
    return pd.DataFrame(out, columns=["model", "step_before", "step", f"acc[{iterative}]", f"acc[{single_step}]"])


def render_snapshots(frame: pd.DataFrame, flags: pd.DataFrame, spec: dict, out_csv, out_html) -> None:
    """The snapshot accuracies (tidy CSV with a ``catastrophic_overfitting`` column) and an HTML
    page: per model and attack the accuracy at each step, and the flagged steps."""
    flagged = {(r.model, r.step) for r in flags.itertuples()}
    tidy = frame.assign(catastrophic_overfitting=[(m, s) in flagged for m, s in zip(frame["model"], frame["step"])])
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
            f"<li>{html.escape(r.model)}: steps {r.step_before:,} -> {r.step:,}</li>" for r in flags.itertuples()
        )
        verdict = (
            f"<p><b>{check.verdict}: catastrophic overfitting</b> (iterative accuracy down by more than "
            f"{spec['overfit_drop']:.2f} between snapshots while the single-step accuracy holds or rises):</p>"
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
        ax.plot([], [], "x", color="red", ms=10, mew=3, label="catastrophic overfitting")
    _finish(fig, ax, spec, "training step (log scale)", "accuracy", outputs)
