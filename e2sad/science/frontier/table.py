"""The frontier table (:func:`frontier_table`: one line per model, protocol and budget, with the
accuracies' 95 % intervals) and its rendering as CSV, LaTeX and HTML (:func:`render_frontier`, with
the checked statements of :mod:`.claims` below the table)."""

from __future__ import annotations

import html

import pandas as pd

from ...errors import DataError
from ...render import BREAK, write_table
from ..common import caption, images_text, mean_std, verdict_style
from ..intervals import accuracy
from ..trained import Trained, did_it_train
from ..verdict import tally


def trained_seeds(rows: pd.DataFrame, train: pd.DataFrame | None, spec: dict, model: str) -> dict[int, Trained]:
    """seed -> :class:`~e2sad.science.trained.Trained` of one trained model: its clean accuracy on the
    evaluation images (the spec's ``clean`` attack) and its final training loss (``train``: model,
    seed, final_loss rows read from the model files' sidecars), against the data's ``classes``."""
    clean = rows[(rows["model"] == model) & (rows["attack_name"] == spec.get("clean"))]
    accs = dict(zip(clean["seed"].astype(int), clean["accuracy"].astype(float)))
    losses = {}
    if train is not None and len(train):
        sel = train[train["model"] == model]
        losses = {int(s): (None if pd.isna(v) else float(v)) for s, v in zip(sel["seed"], sel["final_loss"])}
    seeds = sorted(set(rows[rows["model"] == model]["seed"].astype(int)))
    return {s: did_it_train(model, s, accs.get(s), losses.get(s), spec["classes"]) for s in seeds}


def per_seed_text(values: dict[int, float], untrained) -> str:
    """Every seed's accuracy, ``0:0.5210 1:0.4800 2:0.1260!`` (``!``: that seed did not train)."""
    return " ".join(f"{s}:{v:.4f}" + ("!" if s in untrained else "") for s, v in sorted(values.items()))


def seed_values(text) -> list[tuple[int, float, bool]]:
    """(seed, accuracy, trained) of every seed of a :func:`per_seed_text` cell."""
    if not isinstance(text, str) or not text:
        return []
    out = []
    for item in text.split():
        seed, _, value = item.partition(":")
        out.append((int(seed), float(value.rstrip("!")), not value.endswith("!")))
    return out


def parse_per_seed(text) -> dict[int, float]:
    """The trained seeds' accuracies of a :func:`per_seed_text` cell (the seeds marked ``!`` left out)."""
    return {seed: value for seed, value, trained in seed_values(text) if trained}


def training_measured(costs: pd.DataFrame, model: str) -> dict:
    """A trained model's measured training: ``train_s``, its training job's wall seconds (the model
    sidecar's ``wall_time_s``; median over seeds; a resumed training: its last run) and ``machine``,
    where it ran (:func:`e2sad.costs.machine_of`; several joined by ``; ``)."""
    sel = costs[costs["model"] == model]
    wall = sel["train_wall_s"].dropna() if "train_wall_s" in sel else []
    machines = sorted(set(sel["machine"])) if "machine" in sel else []
    return {"train_s": float(wall.median()) if len(wall) else float("nan"), "machine": "; ".join(machines)}


def frontier_table(
    rows: pd.DataFrame, costs: pd.DataFrame, spec: dict, train: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One line per (model, protocol[, budget]): defense, steps, training FLOPs, the measured
    training seconds and machine (:func:`training_measured`), step time x natural, whether each
    seed trained (:mod:`e2sad.science.trained`), and under every frontier attack every seed's
    accuracy and, over the seeds that trained, the mean, its std and its 95 % interval over the
    test images and the seeds (:func:`e2sad.science.intervals.accuracy`; no mean when no seed
    trained: the row reads "did not train"); then one line per published result (protocol
    ``published``, at its own training FLOPs).

    ``rows``: evaluation rows (model, attack_name, accuracy, n, seed); ``costs``: training cost
    rows of the trained models (:func:`e2sad.costs.cost_rows`: model, defense, steps,
    median_step_s, train_wall_s, machine); ``train``: (model, seed, final_loss) of the trained
    models; ``spec``: cells [[model, protocol, trained, budget multiple]], budgets, attacks,
    attack_labels, clean (the clean attack's name), classes, model_info {trained: {column, label,
    defense, steps, train_flops}}, robust (the AutoAttack name), natural (the trained model whose
    step time is the unit, or null), published (:meth:`e2sad.plan.specs.Specs.published_points`).
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
            "train_flops": info["train_flops"],
            **training_measured(costs, trained),
        }
        step = costs[costs["model"] == trained]["median_step_s"]
        line["median_step_s"] = float(step.median()) if len(step) else float("nan")
        line["step_x_natural"] = line["median_step_s"] / nat_step if nat_step else float("nan")
        decided = trained_seeds(rows, train, spec, trained)
        untrained = sorted(s for s, t in decided.items() if not t.trained)
        line["trained"] = f"{len(decided) - len(untrained)} of {len(decided)}"
        line["untrained_seeds"] = " ".join(map(str, untrained))
        line["untrained_why"] = "; ".join(f"seed {s} {decided[s].why}" for s in untrained)
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
            values = dict(zip(sel["seed"].astype(int), sel["accuracy"].astype(float)))
            kept = {s: v for s, v in values.items() if s not in untrained}
            line[f"per_seed[{attack}]"] = per_seed_text(values, untrained)
            if not kept:
                line.update({f"acc[{attack}]": float("nan"), f"std[{attack}]": float("nan")})
                line.update({f"lo[{attack}]": float("nan"), f"hi[{attack}]": float("nan")})
                continue
            est = accuracy(kept, n)
            mean, std, k = mean_std(list(kept.values()))
            seeds = max(seeds, k)
            line.update({f"acc[{attack}]": est.value, f"std[{attack}]": std, f"lo[{attack}]": est.lo})
            line[f"hi[{attack}]"] = est.hi
        line.update(seeds=seeds, n=n)
        out.append(line)
    for p in spec.get("published", []):
        line = {"model": p["key"], "protocol": "published", **({"budget": None} if several else {})}
        line.update(trained_as="", defense=p["defense"], column=p["label"], label="", steps=p["steps"])
        line.update(train_flops=p["train_flops"], train_s=float("nan"), machine="")
        line.update(median_step_s=float("nan"), step_x_natural=float("nan"))
        line.update(trained="", untrained_seeds="", untrained_why="")
        for attack in spec["attacks"]:
            v = p["accuracies"].get(attack, float("nan"))
            line.update({f"acc[{attack}]": v, f"std[{attack}]": float("nan"), f"lo[{attack}]": float("nan")})
            line.update({f"hi[{attack}]": float("nan"), f"per_seed[{attack}]": ""})
        line.update(seeds=0, n=None)
        out.append(line)
    return pd.DataFrame(out)


def fmt_interval(value: float, lo: float, hi: float, sep: str = " ") -> str:
    """``0.812 [0.781, 0.840]`` (the interval clipped to [0, 1]: shown, not computed, so); the value
    alone without an interval; ``""`` when missing."""
    if pd.isna(value):
        return ""
    if pd.isna(lo) or pd.isna(hi):
        return f"{value:.3f}"
    return f"{value:.3f}{sep}[{max(0.0, lo):.3f}, {min(1.0, hi):.3f}]"


def fmt_seeds(text, mark: bool = True) -> str:
    """The per-seed cell as shown: ``s0 0.521, s1 0.480, s2 0.126 (did not train)`` (``mark``: name the
    seeds that did not train; off where the whole row says so)."""
    return ", ".join(
        f"s{seed} {value:.3f}" + ("" if trained or not mark else " (did not train)")
        for seed, value, trained in seed_values(text)
    )


def _protocol_text(r) -> str:
    text = r.protocol.replace("_", " ")
    b = getattr(r, "budget", None)
    if r.protocol == "published":
        return "published (its own training)"
    return text + ("" if b is None or pd.isna(b) else f" x{b:g}")


def _cell(r: pd.Series, attack: str) -> str:
    """A measured row's accuracy under ``attack``: mean [interval] over the seeds that trained, then
    every seed's value ("did not train" in place of the mean when none did)."""
    if r["protocol"] == "published":
        return fmt_interval(r[f"acc[{attack}]"], float("nan"), float("nan"))
    mean = fmt_interval(r[f"acc[{attack}]"], r[f"lo[{attack}]"], r[f"hi[{attack}]"], sep=BREAK)
    seeds = fmt_seeds(r.get(f"per_seed[{attack}]"), mark=bool(mean))
    return (mean or "did not train") + (BREAK + seeds if seeds else "")


def render_frontier(df: pd.DataFrame, statements: pd.DataFrame, spec: dict, out_csv, out_tex, out_html) -> None:
    """The frontier table as CSV (tidy), LaTeX and HTML (with the checked statements)."""
    labels = spec.get("attack_labels", {})
    show = pd.DataFrame(index=[f"{r.column} ({r.label})" if r.label else r.column for r in df.itertuples()])
    show.index.name = "defense"
    show["protocol"] = [_protocol_text(r) for r in df.itertuples()]
    show["steps"] = [f"{s:,}" for s in df["steps"]]
    show["training TFLOP"] = [f"{t / 1e12:.3g}" for t in df["train_flops"]]
    show["training s"] = ["" if pd.isna(t) else f"{t:,.0f}" for t in df["train_s"]]
    machines = sorted({m for m in df["machine"] if m})
    if len(machines) > 1:
        show["machine"] = list(df["machine"])
    show["step x natural"] = ["" if pd.isna(x) else f"{x:.1f}" for x in df["step_x_natural"]]
    show["trained (seeds)"] = list(df["trained"])
    for a in spec["attacks"]:
        show[labels.get(a, a)] = [_cell(r, a) for _, r in df.iterrows()]
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
        f"{spec['title']}: accuracy on {images_text(n, spec.get('config', {}).get('sample_seed'))}, "
        f"mean over the seeds that trained (at most {k}) "
        "with its 95 % interval over the test images (Wilson) and the seeds (Student t), then every seed's value "
        "(a seed that did not train: clean accuracy at most twice chance or final training loss near ln(classes); "
        "it enters no mean and no statement); "
        "equal iterations = the paper's protocol (the same steps and batch for every defense), "
        f"equal cost = each defense trained for the steps whose training FLOPs equal {unit} training FLOPs"
        + ("; own recipe = the method's published recipe" if "own_recipe" in set(df["protocol"]) else "")
        + (published if "published" in set(df["protocol"]) else "")
        + (f"; training s = the training job's measured wall time on {machines[0]}" if len(machines) == 1 else "")
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
