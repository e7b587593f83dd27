"""Which files each target builds and which files each job reads (patterns in :mod:`.layout`)."""

from __future__ import annotations

TABLE_FORMATS = ("csv", "tex", "html")
FIGURE_FORMATS = ("pdf", "png")


class Targets:
    """Mixin of :class:`e2sad.plan.Study`: the inputs of each rule and the files of each target."""

    # ---- the paper's tables and figures

    def table_inputs(self, name: str, seeds=None) -> list[str]:
        t = self.tables[name]
        seeds = self.seeds if seeds is None else seeds
        if t["kind"] == "whitebox":
            return [self.eval_file(m, s, a) for a in t["attacks"] for m in t["models"] for s in seeds]
        return [self.layout.path("transfer_eval", table=name, model=m, seed=s) for m in t["models"] for s in seeds]

    def table_outputs(self, name: str) -> list[str]:
        return self.layout.paths("table", TABLE_FORMATS, table=name)

    def transfer_adv(self, table: str, seed) -> list[str]:
        t = self.tables[table]
        return [self.crafted_adv(sub, seed, t["attack"])[0] for sub in t["substitutes"]]

    def crafted_adv(self, model: str, seed, attack: str) -> list[str]:
        """The examples a transfer table crafts on ``model`` with ``attack`` (the craft_transfer job):
        the white-box evaluation of the same (model, attack) reads them instead of attacking again.
        Both jobs take their arguments from :meth:`attack_args` and :meth:`eval_args`, so the
        examples are the ones the evaluation would make (tests/test_workflow.py checks it)."""
        for t in self.tables.values():
            if t["kind"] == "transfer" and model in t["substitutes"] and t["attack"] == attack:
                return [self.layout.path("crafted", model=model, seed=seed, attack=attack)]
        return []

    def surface_inputs(self, figure: str, panel: str) -> list[str]:
        f = self.figures[figure]
        attack = f["panels"][panel]
        seed = self.seeds[0]
        return [self.layout.path("surface", figure=figure, model=m, seed=seed, attack=attack) for m in f["models"]]

    def trained_names(self) -> list[str]:
        """Every model that some active table or figure needs, once each."""
        names = []
        for t in self.tables.values():
            if t["dataset"] in self.active:
                names += t["models"] + t.get("substitutes", [])
        for f in self.figures.values():
            if f["dataset"] in self.active:
                names += f["models"]
        return list(dict.fromkeys(names))

    def trained_models(self) -> list[str]:
        """Every model file (model, seed) that some active table or figure needs."""
        return [self.model_file(m, s) for m in self.trained_names() for s in self.seeds]

    def all_targets(self) -> list[str]:
        out = []
        for name, t in self.tables.items():
            if t["dataset"] in self.active:
                out += self.table_outputs(name)
        for name, f in self.figures.items():
            if f["dataset"] in self.active:
                out += [p for panel in f["panels"] for p in self.figure_outputs(name, panel)]
        if self.config["cost_table"]:
            out += self.layout.paths("cost_table", TABLE_FORMATS)
        if self.config["science"]:
            out += self.science_targets()
        return out

    def figure_outputs(self, figure: str, panel: str) -> list[str]:
        return self.layout.paths("figure", FIGURE_FORMATS, figure=figure, panel=panel)

    # ---- science: second-step ablation

    def ablation_active(self) -> bool:
        return bool(self.ablation) and bool(self._active_tables([self.ablation["table"]]))

    def ablation_rows(self) -> list[str]:
        if not self.ablation_active():
            return []
        attacks = self.tables[self.ablation["table"]]["attacks"]
        return [self.eval_file(m, s, a) for m in self.ablation_variants.values() for s in self.seeds for a in attacks]

    def ablation_model_files(self) -> list[str]:
        if not self.ablation_active():
            return []
        return [self.model_file(m, s) for m in self.ablation_variants.values() for s in self.seeds]

    def ablation_targets(self) -> list[str]:
        return self.layout.paths("ablation", TABLE_FORMATS) if self.ablation_active() else []

    # ---- science: stronger evaluation

    def clean_attack(self) -> str | None:
        return next((a for a, x in self.attacks.items() if x["kind"] == "none"), None)

    def robust_models(self) -> list[str]:
        names = []
        for t in self._active_tables(self.robust.get("tables", [])):
            names += self.tables[t]["models"]
        return list(dict.fromkeys(names))

    def robust_attacks(self) -> list[str]:
        """Every attack counted in "strongest": the reference, the paper's others, the new ones."""
        r = self.robust
        return list(dict.fromkeys([r["reference"]] + r["also"] + list(r["attacks"])))

    def robustness_inputs(self) -> list[str]:
        if not self.robust_models():
            return []
        clean = [self.clean_attack()] if self.clean_attack() else []
        return [
            self.layout.path("robust_eval", model=m, seed=s, attack=a)
            for m in self.robust_models()
            for s in self.robust_seeds
            for a in clean + self.robust_attacks()
        ]

    def robustness_targets(self) -> list[str]:
        return self.layout.paths("robustness", TABLE_FORMATS) if self.robust_models() else []

    # ---- science: sanity checks

    def sanity_tables(self) -> list[str]:
        return self._active_tables(self.sanity.get("tables", []))

    def _table_attacks(self, name: str) -> list[str]:
        t = self.tables[name]
        return t["attacks"] if t["kind"] == "whitebox" else [t["attack"]]

    def sanity_models(self) -> list[str]:
        names = []
        for t in self.sanity_tables():
            names += self.tables[t]["models"] + self.tables[t].get("substitutes", [])
        return list(dict.fromkeys(names))

    def sanity_sweeps(self) -> list[str]:
        return [
            self.layout.path("sweep", model=m, seed=s, sweep=sw)
            for m in self.sanity_models()
            for s in self.sanity_seeds
            for sw in self.sanity.get("sweeps", {})
        ]

    def sanity_whitebox(self) -> list[str]:
        """Evaluation rows the checks compare: the white-box tables' attacks, and the
        transfer tables' attack run white-box on each target."""
        out = []
        for name in self.sanity_tables():
            out += [
                self.eval_file(m, s, a)
                for m in self.tables[name]["models"]
                for s in self.sanity_seeds
                for a in self._table_attacks(name)
            ]
        return list(dict.fromkeys(out))

    def sanity_transfer(self) -> list[str]:
        out = []
        for name in self.sanity_tables():
            if self.tables[name]["kind"] == "transfer":
                out += self.table_inputs(name, self.sanity_seeds)
        return out

    def sanity_targets(self) -> list[str]:
        if not self.sanity_models():
            return []
        return self.layout.paths("sanity", ("csv", "html")) + self.layout.paths("eps_sweep", FIGURE_FORMATS)

    # ---- science: checked statements

    def statements_targets(self) -> list[str]:
        from .study import STATEMENTS_TABLE

        if STATEMENTS_TABLE not in self.tables or not self._active_tables([STATEMENTS_TABLE]):
            return []
        return self.layout.paths("statements", ("html", "md", "csv"))

    def science_targets(self) -> list[str]:
        return self.ablation_targets() + self.robustness_targets() + self.sanity_targets() + self.statements_targets()
