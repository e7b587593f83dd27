"""Robustness along training: the snapshots' accuracies (:func:`snapshot_frame`, per seed
:func:`snapshot_seeds`), the catastrophic-overfitting detector (:func:`catastrophic_overfitting`)
and their table (:func:`render_snapshots`, with the verdict of
:func:`.claims.no_defense_overfits_catastrophically`)."""

from __future__ import annotations

import html

import pandas as pd

from ...errors import DataError
from ...render import write_table
from ..common import caption, mean_std
from .claims import no_defense_overfits_catastrophically, overfitting_rule

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
    frame: pd.DataFrame, single_step: str, iterative: str, drop: float, gap: float | None = None, hold: float = 0.0
) -> pd.DataFrame:
    """The known failure of single-step training (Wong et al. 2020): between two consecutive
    snapshots the iterative attack's accuracy falls by more than ``drop`` while the single-step
    attack's holds (falls by at most ``hold``) or rises, seed by seed (``frame``:
    :func:`snapshot_seeds`; without a ``seed`` column, one series per model).  ``gap`` (None: not
    checked) also flags a snapshot whose single-step accuracy exceeds its iterative accuracy by
    more than ``gap``: a model that overfits before its first snapshot never falls, it is never
    robust (Wong et al.'s Figure: FGSM accuracy near 100 % while PGD's is near 0).  One row per
    (model, seed, step) flagged: step_before (the step itself for a gap), step, the two
    accuracies of each attack."""
    frame = frame if "seed" in frame else frame.assign(seed=None)
    out = []
    for (model, seed), sel in frame.groupby(["model", "seed"], sort=False, dropna=False):
        it = sel[sel["attack_name"] == iterative].set_index("step")["accuracy"]
        ss = sel[sel["attack_name"] == single_step].set_index("step")["accuracy"]
        steps = sorted(set(it.index) & set(ss.index))
        for a, b in zip(steps[:1] + steps, steps):  # (first, first), then consecutive pairs
            fell = a != b and it[a] - it[b] > drop and ss[b] >= ss[a] - hold
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
        verdict = f"<p><b>{check.verdict}: catastrophic overfitting</b> ({overfitting_rule(spec)}):</p><ul>{items}</ul>"
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
