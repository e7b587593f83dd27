"""What each artifact says: the spec of every table, figure and check (titles, labels, the note on
scale, and the part of the config it depends on, with that part's hash)."""

from __future__ import annotations

import re

from ..provenance import config_hash


def hashed(spec: dict) -> dict:
    """The spec with the hash of what it depends on (its ``config``, not the whole study: an
    unrelated change does not re-run it)."""
    return {**spec, "config_hash": config_hash(spec["config"])}


class Specs:
    """Mixin of :class:`e2sad.plan.Study`: the specs of the paper's artifacts and the notes on scale."""

    def scale_note(self, dataset: str) -> str:
        """What the numbers are: scale, budget, test-set size."""
        t = self.config["training"][dataset]
        n = self.config["evaluation"]["n_test"] or "all"
        seeds = len(self.seeds)
        note = (
            f"{self.config['scale']} scale: {t['steps']} iterations of batch {t['batch_size']}, "
            f"{n} test images, {seeds} seed{'s' if seeds > 1 else ''}, precision {self.compute['precision']}"
        )
        if self.config["scale"] == "smoke":
            note = f"SMOKE OUTPUT, NOT A RESULT: {note}"
        elif self.config["scale"] == "wong2020":
            network = self.config["data"][dataset].get("network", "the dataset's default")
            note = note.replace("wong2020 scale: ", f"Wong et al. 2020's MNIST recipe on network {network}: ", 1)
        elif self.config["scale"] != "paper":
            seen = t["steps"] * t["batch_size"]
            note += f" ({seen:,} training images seen); the paper's numbers are not expected at this budget"
        return note

    def science_note(self, dataset: str, n, seeds=None) -> str:
        """scale_note, and the test subset (n: None = all) and seeds of the check."""
        subset = f"the first {n}" if n else "all"
        note = f"{self.scale_note(dataset)}; this check on {subset} test images"
        if seeds is not None and list(seeds) != list(self.seeds):
            note += f" and seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))} only"
        return note

    def _model_info(self, models, *keys: str) -> dict:
        return {m: {k: self.models[m][k] for k in ("column", "label", *keys)} for m in models}

    def table_spec(self, name: str) -> dict:
        t = self.tables[name]
        if t["kind"] == "whitebox":
            rows = t["attacks"]
            row_labels = {a: self.attacks[a]["label"] for a in rows}
        else:
            rows = t["substitutes"]
            row_labels = {s: f"{self.models[s]['column']} ({self.models[s]['label']})" for s in rows}
        return hashed(
            {
                "name": name,
                "kind": t["kind"],
                "title": t["title"],
                "paper_table": t["paper_table"],
                "rows": rows,
                "row_labels": row_labels,
                "models": t["models"],
                "model_info": self._model_info(t["models"]),
                "note": self.scale_note(t["dataset"]),
                "config": {
                    "models": {m: self.models[m] for m in t["models"] + t.get("substitutes", [])},
                    "attacks": {a: self.attacks[a] for a in t.get("attacks", [t.get("attack")])},
                    "training": self.config["training"][t["dataset"]],
                    "evaluation": self.config["evaluation"],
                    "seeds": self.seeds,
                    "scale": self.config["scale"],
                },
            }
        )

    def cost_spec(self) -> dict:
        return {"note": self.scale_note(self.active[0] if self.active else self.config["datasets"][0])}

    def artifact_name(self, name: str) -> str:
        """A table's or figure's paper name from its title ('Table 3.1', 'Figure 3.3'), else its config name."""
        entry = self.tables[name] if name in self.tables else self.figures[name]
        match = re.match(r"(Table|Figure) [0-9.]*[0-9]", entry["title"])
        return match.group(0) if match else name

    def surface_labels(self, figure: str) -> list[str]:
        return [f"{self.models[m]['column']} ({self.models[m]['label']})" for m in self.figures[figure]["models"]]

    def surface_title(self, figure: str, panel: str) -> str:
        f = self.figures[figure]
        attack = self.attacks[f["panels"][panel]]["label"]
        return f"{f['title']} ({panel}): {attack} directions; {self.scale_note(f['dataset'])}"

    def ablation_spec(self) -> dict:
        name = self.ablation["table"]
        t = self.tables[name]
        base = self.ablation["base"]
        return hashed(
            {
                "title": f"Second-step ablation of {base}: each reading of eq. 3.2 at the same budget and seeds",
                "base": base,
                "variants": self.ablation_variants,
                "attacks": t["attacks"],
                "attack_labels": {a: self.attacks[a]["label"] for a in t["attacks"]},
                "paper_table": t["paper_table"],
                "paper_model": base,
                "note": self.scale_note(t["dataset"]),
                "config": {
                    "models": {m: self.models[m] for m in self.ablation_variants.values()},
                    "training": self.config["training"][t["dataset"]],
                    "evaluation": self.config["evaluation"],
                    "seeds": self.seeds,
                },
            }
        )

    def robustness_spec(self) -> dict:
        models, attacks, clean = self.robust_models(), self.robust_attacks(), self.clean_attack()
        rb = self.robust
        return hashed(
            {
                "title": "Stronger evaluation: the paper's attack beside the strongest attack found",
                "models": models,
                "model_info": self._model_info(models),
                "reference": rb["reference"],
                "attacks": attacks,
                "clean": clean,
                "attack_labels": {a: self.science_attacks[a]["label"] for a in attacks + [clean] if a},
                "paper_table": self._active_tables(rb["tables"])[0],
                "flag_drop": rb["flag_drop"],
                "note": self.science_note(self.dataset_of(models[0]), rb["n_test"], self.robust_seeds),
                "config": {
                    "attacks": {a: self.science_attacks[a] for a in attacks},
                    "n_test": rb["n_test"],
                    "seeds": self.robust_seeds,
                },
            }
        )

    def sanity_spec(self) -> dict:
        models = self.sanity_models()
        attacks, transfer = {}, {}
        for name in self.sanity_tables():
            for a in self._table_attacks(name):
                attacks[a] = {k: self.attacks[a][k] for k in ("kind", "eps", "k") if k in self.attacks[a]}
            if self.tables[name]["kind"] == "transfer":
                transfer[name] = self.tables[name]["attack"]
        s = self.sanity
        return hashed(
            {
                "models": models,
                "model_labels": {m: f"{self.models[m]['column']}, {self.models[m]['label']}" for m in models},
                "attacks": attacks,
                "transfer_attacks": transfer,
                "sweep_labels": {n: x["label"] for n, x in s["sweeps"].items()},
                "note": self.science_note(self.dataset_of(models[0]), s["n_test"], self.sanity_seeds),
                "config": {"eps": s["eps"], "sweeps": s["sweeps"], "n_test": s["n_test"], "seeds": self.sanity_seeds},
            }
        )

    def statements_spec(self) -> dict:
        from .study import STATEMENTS_TABLE

        t = self.tables[STATEMENTS_TABLE]
        keep = ("kind", "eps", "k")
        return {
            "attacks": {a: {k: self.attacks[a][k] for k in keep if k in self.attacks[a]} for a in t["attacks"]},
            "note": self.scale_note(t["dataset"]),
        }
