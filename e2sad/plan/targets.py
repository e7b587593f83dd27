"""Which files the paper's targets build and which files their jobs read (patterns in
:mod:`.layout`); the science products' are :mod:`.science_targets`."""

from __future__ import annotations

from .science_targets import FIGURE_FORMATS, TABLE_FORMATS, ScienceTargets, transfer_inputs
from .study import Study


class Targets:
    """The inputs of each rule of the paper's tables and figures, and the files of target ``all``."""

    def __init__(self, study: Study, science: ScienceTargets):
        self.study = study
        self.science = science

    def table_inputs(self, name: str, seeds=None) -> list[str]:
        t = self.study.tables[name]
        seeds = self.study.seeds if seeds is None else seeds
        if t["kind"] == "whitebox":
            return [self.study.eval_file(m, s, a) for a in t["attacks"] for m in t["models"] for s in seeds]
        return transfer_inputs(self.study, name, seeds)

    def table_outputs(self, name: str) -> list[str]:
        return self.study.layout.paths("table", TABLE_FORMATS, table=name)

    def transfer_adv(self, table: str, seed) -> list[str]:
        t = self.study.tables[table]
        return [self.crafted_adv(sub, seed, t["attack"])[0] for sub in t["substitutes"]]

    def crafted_adv(self, model: str, seed, attack: str) -> list[str]:
        """The examples a transfer table crafts on ``model`` with ``attack`` (the craft_transfer job):
        the white-box evaluation of the same (model, attack) reads them instead of attacking again.
        Both jobs take their arguments from :meth:`attack_args` and :meth:`eval_args`, so the
        examples are the ones the evaluation would make (tests/test_workflow.py checks it)."""
        for t in self.study.tables.values():
            if t["kind"] == "transfer" and model in t["substitutes"] and t["attack"] == attack:
                return [self.study.layout.path("crafted", model=model, seed=seed, attack=attack)]
        return []

    def surface_inputs(self, figure: str, panel: str) -> list[str]:
        f = self.study.figures[figure]
        attack = f["panels"][panel]
        seed = self.study.seeds[0]
        return [
            self.study.layout.path("surface", figure=figure, model=m, seed=seed, attack=attack) for m in f["models"]
        ]

    def trained_names(self) -> list[str]:
        """Every model that some active table or figure needs, once each."""
        names = []
        for t in self.study.tables.values():
            if t["dataset"] in self.study.active:
                names += t["models"] + t.get("substitutes", [])
        for f in self.study.figures.values():
            if f["dataset"] in self.study.active:
                names += f["models"]
        return list(dict.fromkeys(names))

    def trained_models(self) -> list[str]:
        """Every model file (model, seed) that some active table or figure needs."""
        return [self.study.model_file(m, s) for m in self.trained_names() for s in self.study.seeds]

    def all_targets(self) -> list[str]:
        out = []
        for name, t in self.study.tables.items():
            if t["dataset"] in self.study.active:
                out += self.table_outputs(name)
        for name, f in self.study.figures.items():
            if f["dataset"] in self.study.active:
                out += [p for panel in f["panels"] for p in self.figure_outputs(name, panel)]
        if self.study.config["cost_table"]:
            out += self.study.layout.paths("cost_table", TABLE_FORMATS)
        if self.study.config["science"]:
            out += self.science.science_targets()
        return out

    def figure_outputs(self, figure: str, panel: str) -> list[str]:
        return self.study.layout.paths("figure", FIGURE_FORMATS, figure=figure, panel=panel)
