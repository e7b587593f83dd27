"""Where every output of the study lives: each path pattern stated once.

The rules' ``output:`` and ``log:`` and the plan's input lists both ask :class:`Layout`; a pattern
keeps the fields it is not given as Snakemake wildcards (``{model}``), so one pattern serves a rule
(``layout.path("model")``) and a concrete file (``layout.path("model", model="m", seed=0)``).
Paths are relative to the workflow's directory, under ``results``.
"""

from __future__ import annotations

import string

#: every output of the study, relative to ``results``; ``{ext}`` for artifacts written in several formats
PATTERNS = {
    # stage 1-2: data and models
    "data": "data/{dataset}.pt",
    "model": "models/{model}/seed{seed}/model.pt",
    "train_log": "models/{model}/seed{seed}/train_log.csv",
    "ckpt": "checkpoints/{model}/seed{seed}/ckpt.pt",
    "snapshot_dir": "snapshots/{model}/seed{seed}",
    "snapshot": "snapshots/{model}/seed{seed}/step{step}.pt",
    # stage 3-5: evaluations, transfer, loss surfaces
    "eval": "eval/{model}/seed{seed}/{attack}.json",
    "crafted": "transfer/adv/{model}/seed{seed}/{attack}.pt",
    "transfer_eval": "transfer/eval/{table}/{model}/seed{seed}.json",
    "surface": "surfaces/{figure}/{model}/seed{seed}/{attack}.npz",
    # stage 6: the paper's artifacts
    "table": "tables/{table}.{ext}",
    "cost_table": "tables/training_cost.{ext}",
    "figure": "figures/{figure}{panel}.{ext}",
    # science
    "ablation": "science/ablation.{ext}",
    "robust_eval": "science/robustness/eval/{model}/seed{seed}/{attack}.json",
    "robustness": "science/robustness.{ext}",
    "sweep": "science/sanity/sweep/{model}/seed{seed}/{sweep}.json",
    "sanity": "science/sanity.{ext}",
    "eps_sweep": "science/figures/eps_sweep.{ext}",
    "statements": "science/statements.{ext}",
    # frontier
    "frontier_eval": "frontier/eval/{model}/seed{seed}/{attack}.json",
    "frontier": "frontier/frontier.{ext}",
    "frontier_statements": "frontier/frontier_statements.csv",
    "snapshot_eval": "frontier/snapshots/{model}/seed{seed}/step{step}/{attack}.json",
    "snapshots": "frontier/snapshots.{ext}",
    # released models (snakemake released): converted from the file the user supplies, evaluated
    "released_model": "released/{released}/model.pt",
    "released_eval": "released/eval/{released}/{attack}.json",
    "released_table": "released/released.{ext}",
}

#: each rule's log, relative to ``results/logs``
LOGS = {
    "prepare_data": "prepare_data/{dataset}.log",
    "train": "train/{model}/seed{seed}.log",
    "evaluate": "evaluate/{model}/seed{seed}/{attack}.log",
    "craft_transfer": "craft_transfer/{model}/seed{seed}/{attack}.log",
    "evaluate_transfer": "evaluate_transfer/{table}/{model}/seed{seed}.log",
    "surface": "surface/{figure}/{model}/seed{seed}/{attack}.log",
    "plot_surface": "plot_surface/{figure}{panel}.log",
    "table": "table/{table}.log",
    "cost_table": "table/training_cost.log",
    "ablation_table": "science/ablation_table.log",
    "robust_evaluate": "science/robust_evaluate/{model}/seed{seed}/{attack}.log",
    "robustness_table": "science/robustness_table.log",
    "eps_sweep": "science/eps_sweep/{model}/seed{seed}/{sweep}.log",
    "sanity_report": "science/sanity_report.log",
    "statements": "science/statements.log",
    "frontier_evaluate": "frontier/evaluate/{model}/seed{seed}/{attack}.log",
    "frontier_table": "frontier/frontier_table.log",
    "frontier_snapshot_evaluate": "frontier/snapshot/{model}/seed{seed}/step{step}/{attack}.log",
    "frontier_snapshots": "frontier/snapshots.log",
    "convert_released": "released/convert/{released}.log",
    "released_evaluate": "released/evaluate/{released}/{attack}.log",
    "released_table": "released/released_table.log",
}


class _KeepMissing(dict):
    """format_map leaves a field it is not given as ``{field}`` (a Snakemake wildcard)."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fill(pattern: str, fields: dict) -> str:
    names = {f for _, f, _, _ in string.Formatter().parse(pattern) if f}
    unknown = set(fields) - names
    if unknown:
        raise KeyError(f"{pattern}: no field {', '.join(sorted(unknown))}")
    return pattern.format_map(_KeepMissing(fields))


class Layout:
    """The study's files under ``results``."""

    def __init__(self, results: str):
        self.results = results

    def path(self, name: str, **fields) -> str:
        """The path of output ``name``; fields not given stay wildcards."""
        return f"{self.results}/{_fill(PATTERNS[name], fields)}"

    def paths(self, name: str, exts, **fields) -> list[str]:
        """One artifact in several formats: ``paths("table", ("csv", "tex"), table="table_3_1")``."""
        return [self.path(name, ext=e, **fields) for e in exts]

    def log(self, rule: str, **fields) -> str:
        return f"{self.results}/logs/{_fill(LOGS[rule], fields)}"
