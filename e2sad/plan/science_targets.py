"""Which files the science products build and read: the second-step ablation, the stronger
evaluation, the sanity checks and the checked statements (patterns in :mod:`.layout`)."""

from __future__ import annotations

from .study import STATEMENTS_TABLE, Study

TABLE_FORMATS = ("csv", "tex", "html")
FIGURE_FORMATS = ("pdf", "png")


class ScienceTargets:
    """The inputs of each science rule and the files of each science target."""

    def __init__(self, study: Study):
        self.study = study

    # ---- science: second-step ablation

    def ablation_active(self) -> bool:
        return bool(self.study.ablation) and bool(self.study.active_tables([self.study.ablation["table"]]))

    def ablation_rows(self) -> list[str]:
        if not self.ablation_active():
            return []
        attacks = self.study.tables[self.study.ablation["table"]]["attacks"]
        return [
            self.study.eval_file(m, s, a)
            for m in self.study.ablation_variants.values()
            for s in self.study.seeds
            for a in attacks
        ]

    def ablation_model_files(self) -> list[str]:
        if not self.ablation_active():
            return []
        return [self.study.model_file(m, s) for m in self.study.ablation_variants.values() for s in self.study.seeds]

    def ablation_targets(self) -> list[str]:
        return self.study.layout.paths("ablation", TABLE_FORMATS) if self.ablation_active() else []

    # ---- science: stronger evaluation

    def clean_attack(self) -> str | None:
        return next((a for a, x in self.study.attacks.items() if x["kind"] == "none"), None)

    def robust_models(self) -> list[str]:
        names = []
        for t in self.study.active_tables(self.study.robust.get("tables", [])):
            names += self.study.tables[t]["models"]
        return list(dict.fromkeys(names))

    def robust_attacks(self) -> list[str]:
        """Every attack counted in "strongest": the reference, the paper's others, the new ones."""
        r = self.study.robust
        return list(dict.fromkeys([r["reference"]] + r["also"] + list(r["attacks"])))

    def robustness_inputs(self) -> list[str]:
        if not self.robust_models():
            return []
        clean = [self.clean_attack()] if self.clean_attack() else []
        return [
            self.study.layout.path("robust_eval", model=m, seed=s, attack=a)
            for m in self.robust_models()
            for s in self.study.robust_seeds
            for a in clean + self.robust_attacks()
        ]

    def robustness_targets(self) -> list[str]:
        return self.study.layout.paths("robustness", TABLE_FORMATS) if self.robust_models() else []

    # ---- science: sanity checks

    def sanity_tables(self) -> list[str]:
        return self.study.active_tables(self.study.sanity.get("tables", []))

    def table_attacks(self, name: str) -> list[str]:
        t = self.study.tables[name]
        return t["attacks"] if t["kind"] == "whitebox" else [t["attack"]]

    def sanity_models(self) -> list[str]:
        names = []
        for t in self.sanity_tables():
            names += self.study.tables[t]["models"] + self.study.tables[t].get("substitutes", [])
        return list(dict.fromkeys(names))

    def sanity_sweeps(self) -> list[str]:
        return [
            self.study.layout.path("sweep", model=m, seed=s, sweep=sw)
            for m in self.sanity_models()
            for s in self.study.sanity_seeds
            for sw in self.study.sanity.get("sweeps", {})
        ]

    def sanity_whitebox(self) -> list[str]:
        """Evaluation rows the checks compare: the white-box tables' attacks, and the
        transfer tables' attack run white-box on each target."""
        out = []
        for name in self.sanity_tables():
            out += [
                self.study.eval_file(m, s, a)
                for m in self.study.tables[name]["models"]
                for s in self.study.sanity_seeds
                for a in self.table_attacks(name)
            ]
        return list(dict.fromkeys(out))

    def sanity_transfer(self) -> list[str]:
        out = []
        for name in self.sanity_tables():
            if self.study.tables[name]["kind"] == "transfer":
                out += transfer_inputs(self.study, name, self.study.sanity_seeds)
        return out

    def sanity_targets(self) -> list[str]:
        if not self.sanity_models():
            return []
        return self.study.layout.paths("sanity", ("csv", "html")) + self.study.layout.paths("eps_sweep", FIGURE_FORMATS)

    # ---- science: checked statements

    def statements_targets(self) -> list[str]:
        if STATEMENTS_TABLE not in self.study.tables or not self.study.active_tables([STATEMENTS_TABLE]):
            return []
        return self.study.layout.paths("statements", ("html", "md", "csv"))

    def science_targets(self) -> list[str]:
        return self.ablation_targets() + self.robustness_targets() + self.sanity_targets() + self.statements_targets()


def transfer_inputs(study: Study, name: str, seeds) -> list[str]:
    """The evaluations a transfer table reads: each target model on each substitute's examples."""
    return [
        study.layout.path("transfer_eval", table=name, model=m, seed=s)
        for m in study.tables[name]["models"]
        for s in seeds
    ]
