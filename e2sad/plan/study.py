"""The study: a small record of what one checked config plans (the resolved config, the layout, the
active datasets, every model it trains and the frontier's cells).  The objects that read it
(:mod:`.targets`, :mod:`.science`, :mod:`.commands`, :mod:`.cost`, :mod:`.specs`,
:mod:`.frontier`) take it; :func:`load_study` is the workflow's and the tests' entry point."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..config.checked import load_checked
from ..config.messages import few
from ..errors import ConfigError
from ..runtime import device_name
from ..science.published import PUBLISHED
from .layout import Layout
from .models import ablation_variant_models, entry_flops, steps_of, study_models, training_of

#: the table whose rows the checked statements read (the paper's qualitative claims are about it)
STATEMENTS_TABLE = "table_3_1"


def name_regex(names) -> str:
    """A wildcard constraint matching exactly these names."""
    return "|".join(re.escape(n) for n in names) or "__none__"


@dataclass
class Study:
    """One checked config's plan: ``config`` resolved, ``active`` datasets (files there), ``models``
    (declared and derived, by name), the frontier's ``cells`` (declared model, protocol, trained
    model, budget multiple), ``base_dir`` the workflow's folder."""

    config: dict
    active: list[str]
    models: dict[str, dict]
    cells: list[tuple]
    base_dir: str = "."
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self):
        c = self.config
        self.layout = Layout(c["results"])
        self.seeds = c["seeds"]
        self.compute = c["compute"]
        self.attacks = c["attacks"]
        self.tables = c["tables"]
        self.figures = c["figures"]
        self.ablation = c.get("ablation") or {}
        self.robust = c.get("robustness") or {}
        self.sanity = c.get("sanity") or {}
        self.frontier = c.get("frontier") or {}
        self.robust_seeds = self.robust["seeds"] if self.robust else []
        self.sanity_seeds = self.sanity["seeds"] if self.sanity else []
        self.ablation_variants = ablation_variant_models(c)
        self.science_attacks = {**self.attacks, **self.robust.get("attacks", {})}

    # ---- where the jobs run

    def device(self) -> str:
        """compute.device with ``auto`` resolved: cuda when torch sees a GPU here, else cpu."""
        return device_name(self.compute["device"])

    def gpu_slot(self) -> int:
        """Units of the Snakemake resource ``gpu_slots`` a training or evaluation job takes: 1 on
        a GPU, 0 on the CPU. ``--resources gpu_slots=N`` (workflow/profiles/gpu) lets N of these
        small-network jobs share one GPU at a time."""
        return 1 if self.device().startswith("cuda") else 0

    # ---- names

    def wildcards(self) -> dict[str, str]:
        return {
            "model": name_regex(self.models),
            "attack": name_regex(self.attacks),
            "seed": r"\d+",
            "dataset": name_regex(self.config["data"]),
        }

    def dataset_of(self, model: str) -> str:
        return self.models[model]["dataset"]

    def steps_of(self, model: str) -> int:
        """Training iterations of a model (:func:`e2sad.plan.models.steps_of`)."""
        return steps_of(self.config, self.models[model])

    def training_of(self, model: str) -> dict:
        """A model's training settings (:func:`e2sad.plan.models.training_of`)."""
        return training_of(self.config, self.models[model])

    def active_tables(self, names) -> list[str]:
        return [t for t in names if self.tables[t]["dataset"] in self.active]

    def frontier_active(self) -> bool:
        return bool(self.frontier) and self.frontier["dataset"] in self.active

    def frontier_seeds_of(self, trained: str) -> list:
        """The seeds a frontier model is trained and evaluated on: the union over the cells it is
        trained for of their declared model's ``frontier.model_seeds`` (default ``frontier.seeds``)."""
        fr = self.frontier
        own = fr.get("model_seeds") or {}
        seeds = {s for c in self.cells if c[2] == trained for s in own.get(c[0], fr["seeds"])}
        return sorted(seeds) if seeds else list(fr["seeds"])

    def frontier_trained(self) -> list[str]:
        """The models the frontier's rows are trained as (declared and derived ones)."""
        return list(dict.fromkeys(c[2] for c in self.cells)) if self.frontier_active() else []

    # ---- files (patterns in .layout)

    def data_file(self, model: str) -> str:
        return self.layout.path("data", dataset=self.dataset_of(model))

    def model_file(self, model: str, seed) -> str:
        return self.layout.path("model", model=model, seed=seed)

    def eval_file(self, model: str, seed, attack: str) -> str:
        return self.layout.path("eval", model=model, seed=seed, attack=attack)

    def snapshot_dir(self, model: str, seed) -> str:
        return self.layout.path("snapshot_dir", model=model, seed=seed)


def check_published(config: dict) -> None:
    """Each released model's ``published`` names a published result
    (:data:`e2sad.science.published.PUBLISHED`) of the defense it was trained with; one line
    otherwise.  Part of the config check (:func:`load_study` runs it: the checks in
    :mod:`e2sad.config` may not read the science; they check the rest of ``released``)."""
    published = {p.key: p for p in PUBLISHED}
    for name, r in ((config.get("released") or {}).get("models") or {}).items():
        key, where = r.get("published"), f"released.models.{name}.published"
        if key is None:
            continue
        if key not in published:
            raise ConfigError(f"config: {where}: {key!r} is not a published result; known: {few(published)}")
        if published[key].defense != r["defense"]:
            raise ConfigError(
                f"config: {where}: {key!r} is a {published[key].defense} result, "
                f"but the model's defense is {r['defense']}"
            )


def load_study(
    config: dict, base_dir: str | Path = ".", config_files=(), schema_path: str | Path | None = None
) -> Study:
    """Check ``config`` (:func:`e2sad.config.checked.load_checked`), derive the models it implies
    (:func:`e2sad.plan.models.study_models`, checked like declared ones) and plan the study.
    Raises :class:`e2sad.errors.ConfigError` with one line on the first problem."""
    checked = load_checked(config, base_dir, config_files, schema_path)
    resolved = checked.config
    check_published(resolved)
    models, cells = study_models(resolved, lambda m: entry_flops(resolved, m), base_dir)
    return Study(resolved, list(checked.active), models, cells, str(base_dir), list(checked.warnings))
