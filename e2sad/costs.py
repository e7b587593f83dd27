"""The training-cost table: measured time per step per defense, from the model sidecars.

Written by :func:`e2sad.render.write_table` (CSV, LaTeX, HTML)."""

from __future__ import annotations

import json

import pandas as pd

from .provenance import read_sidecar
from .render import write_table


def machine_of(meta: dict) -> str:
    """The machine a training ran on, from its model's sidecar: the GPU's name, or the CPU's model
    and the threads torch used."""
    t = meta["train"]
    if str(t["device"]).startswith("cuda"):
        return meta.get("gpu") or str(t["device"])
    return f"{meta.get('cpu', {}).get('model', 'cpu')}, {t['threads']} thread{'s' if t['threads'] != 1 else ''}"


def cost_rows(model_paths: list[str], machine: bool = False) -> pd.DataFrame:
    """Per model file its training record (sidecar): defense, batch, steps, device, median step time,
    wall time; ``machine``: also the machine it ran on (:func:`machine_of`)."""
    rows = []
    for p in model_paths:
        meta = read_sidecar(p)
        v, t = meta["values"], meta["train"]
        row = {
            "model": v["name"],
            "defense": v["defense"],
            "hparams": json.dumps(v["hparams"], sort_keys=True),
            "batch_size": v["batch_size"],
            "steps": v["steps"],
            "precision": v["precision"],
            "device": t["device"],
            "threads": t["threads"],
            "median_step_s": t["median_step_s"],
            "train_wall_s": meta.get("wall_time_s"),
        }
        rows.append(row | ({"machine": machine_of(meta)} if machine else {}))
    return pd.DataFrame(rows)


def final_terms(model_paths: list[str]) -> pd.DataFrame:
    """(model, seed, terms): each model file's last logged loss terms, from its sidecar."""
    rows = []
    for p in model_paths:
        meta = read_sidecar(p)
        rows.append(
            {"model": meta["values"]["name"], "seed": meta.get("seed"), "terms": meta["train"].get("final_terms") or {}}
        )
    return pd.DataFrame(rows, columns=["model", "seed", "terms"])


def cost_table(model_paths, spec: dict, out_csv, out_tex, out_html) -> pd.DataFrame:
    """Write the training-cost table (CSV, LaTeX, HTML): per model the median step time and its
    ratios to natural and to FGSM adversarial training (medians over those models).

    The paper claims e2SAD costs about two FGSM runs ("a cost similar to that
    of two runs of FGSM"); ``e2sad statements`` checks it on this table.
    Returns the tidy frame (the CSV), sorted by the ratio to natural training.
    """
    df = cost_rows(model_paths)
    nat = df[df["defense"] == "natural"]["median_step_s"]
    fg = df[df["defense"] == "fgsm_at"]["median_step_s"]
    df["x_natural"] = df["median_step_s"] / float(nat.median()) if len(nat) else float("nan")
    df["x_fgsm_at"] = df["median_step_s"] / float(fg.median()) if len(fg) else float("nan")
    df = df.sort_values(["x_natural", "model"]).reset_index(drop=True)
    show = df[["model", "defense", "batch_size", "median_step_s", "x_natural", "x_fgsm_at", "train_wall_s"]]
    caption = (
        "Measured training cost per step (median over steps), and ratios to natural and to "
        "FGSM adversarial training. The paper claims e2SAD costs about two FGSM runs "
        '("a cost similar to that of two runs of FGSM").'
    )
    if spec.get("note"):
        caption += f" [{spec['note']}]"
    write_table(
        df,
        show,
        caption=caption,
        label="cost",
        csv=out_csv,
        tex=out_tex,
        html_path=out_html,
        index=False,
        formats={
            "batch_size": "{}",
            "median_step_s": "{:.4f}",
            "x_natural": "{:.2f}",
            "x_fgsm_at": "{:.2f}",
            "train_wall_s": "{:.0f}",
        },
    )
    return df
