"""The training-cost table: measured time per step per defense, from the model sidecars."""

from __future__ import annotations

import json

import pandas as pd

from .provenance import read_sidecar, write_text_atomic


def cost_rows(model_paths: list[str]) -> pd.DataFrame:
    rows = []
    for p in model_paths:
        meta = read_sidecar(p)
        v, t = meta["values"], meta["train"]
        rows.append(
            {
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
        )
    return pd.DataFrame(rows)


def cost_table(model_paths, spec: dict, out_csv, out_tex, out_html) -> pd.DataFrame:
    df = cost_rows(model_paths)
    nat = df[df["defense"] == "natural"]["median_step_s"]
    fg = df[df["defense"] == "fgsm_at"]["median_step_s"]
    df["x_natural"] = df["median_step_s"] / float(nat.median()) if len(nat) else float("nan")
    df["x_fgsm_at"] = df["median_step_s"] / float(fg.median()) if len(fg) else float("nan")
    df = df.sort_values(["x_natural", "model"]).reset_index(drop=True)
    write_text_atomic(out_csv, df.to_csv(index=False))
    show = df[["model", "defense", "batch_size", "median_step_s", "x_natural", "x_fgsm_at", "train_wall_s"]]
    caption = (
        "Measured training cost per step (median over steps), and ratios to natural and to "
        "FGSM adversarial training. The paper claims e2SAD costs about two FGSM runs "
        '("a cost similar to that of two runs of FGSM").'
    )
    if spec.get("note"):
        caption += f" [{spec['note']}]"
    sty = show.style.format(
        {"median_step_s": "{:.4f}", "x_natural": "{:.2f}", "x_fgsm_at": "{:.2f}", "train_wall_s": "{:.0f}"}
    ).hide(axis="index")
    write_text_atomic(out_tex, sty.to_latex(hrules=True, caption=caption, label="tab:cost"))
    write_text_atomic(out_html, sty.set_caption(caption).to_html())
    return df
