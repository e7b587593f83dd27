"""The plan's core: the checked config, the models it trains and where each file lives."""

from __future__ import annotations

import re

from ..config import CheckedConfig
from ..science import ablation_models, ablation_variant_models, frontier_models
from .commands import Commands
from .cost import Cost
from .frontier import Frontier
from .layout import Layout
from .specs import Specs
from .targets import Targets

#: separator of derived model names (<model>__equal_cost)
SEP = "__"

#: the table whose rows the checked statements read (the paper's qualitative claims are about it)
STATEMENTS_TABLE = "table_3_1"


def _regex(names) -> str:
    """A wildcard constraint matching exactly these names."""
    return "|".join(re.escape(n) for n in names) or "__none__"


class Study(Commands, Cost, Specs, Targets, Frontier):
    """The plan of one checked config (:func:`e2sad.config.load_checked`); ``base_dir``: the
    workflow's folder.  The concerns live in the mixins' modules; this class holds the facts they
    share: the resolved config, the models (declared and derived), the active datasets, the layout."""

    def __init__(self, checked: CheckedConfig, base_dir: str = "."):
        config = checked.config
        self.config = config
        self.base_dir = base_dir
        self.active = list(checked.active)
        self.layout = Layout(config["results"])
        self.results = config["results"]
        self.seeds = config["seeds"]
        self.compute = config["compute"]
        self.attacks = config["attacks"]
        self.tables = config["tables"]
        self.figures = config["figures"]
        self.ablation = config.get("ablation") or {}
        self.robust = config.get("robustness") or {}
        self.sanity = config.get("sanity") or {}
        self.frontier = config.get("frontier") or {}
        self.robust_seeds = self.robust["seeds"] if self.robust else []
        self.sanity_seeds = self.sanity["seeds"] if self.sanity else []
        self.ablation_variants = ablation_variant_models(config)
        # the ablation's variants and the frontier's equal-cost models (<model>__equal_cost, with
        # their own steps) join the declared models: rules train/evaluate build them all
        self.models = {**config["models"], **ablation_models(config)}
        self.models.update(frontier_models(config, self._entry_cost))
        self.science_attacks = {**self.attacks, **self.robust.get("attacks", {})}

    # ---- where the jobs run

    def device(self) -> str:
        """compute.device with ``auto`` resolved: cuda when torch sees a GPU here, else cpu."""
        device = self.compute["device"]
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        return device

    def gpu_slot(self) -> int:
        """Units of the Snakemake resource ``gpu_slots`` a training or evaluation job takes: 1 on
        a GPU, 0 on the CPU. ``--resources gpu_slots=N`` (workflow/profiles/gpu) lets N of these
        small-network jobs share one GPU at a time."""
        return 1 if self.device().startswith("cuda") else 0

    # ---- names

    def wildcards(self) -> dict[str, str]:
        return {
            "model": _regex(self.models),
            "attack": _regex(self.attacks),
            "seed": r"\d+",
            "dataset": _regex(self.config["data"]),
        }

    def regex(self, names) -> str:
        return _regex(names)

    def dataset_of(self, model: str) -> str:
        return self.models[model]["dataset"]

    def steps_of(self, model: str) -> int:
        """Training iterations of a model: its own ``train_steps`` (the frontier's equal-cost models),
        else its dataset's ``training.<dataset>.steps``."""
        m = self.models[model]
        return int(m.get("train_steps", self.config["training"][m["dataset"]]["steps"]))

    def training_of(self, model: str) -> dict:
        """A model's training settings: its dataset's ``training.<dataset>``, with a frontier
        recipe's batch size, optimizer, lr and schedule over them (``<model>__own_recipe``)."""
        return self._entry_training(self.models[model])

    def _entry_training(self, m: dict) -> dict:
        return {**self.config["training"][m["dataset"]], **(m.get("train_recipe") or {})}

    def _active_tables(self, names) -> list[str]:
        return [t for t in names if self.tables[t]["dataset"] in self.active]

    # ---- files (patterns in .layout)

    def data_file(self, model: str) -> str:
        return self.layout.path("data", dataset=self.dataset_of(model))

    def model_file(self, model: str, seed) -> str:
        return self.layout.path("model", model=model, seed=seed)

    def eval_file(self, model: str, seed, attack: str) -> str:
        return self.layout.path("eval", model=model, seed=seed, attack=attack)

    def snapshot_dir(self, model: str, seed) -> str:
        return self.layout.path("snapshot_dir", model=model, seed=seed)
