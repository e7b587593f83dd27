"""What each artifact says: the spec of every table, figure and check (titles, labels, the note on
scale, and the part of the config it depends on, with that part's hash)."""

from __future__ import annotations

import re

from ..defenses import step_flops
from ..provenance import config_hash
from ..science.published import PUBLISHED
from .cost import Cost
from .frontier import FrontierPlan
from .models import SEP
from .released import ReleasedPlan
from .science_targets import ScienceTargets
from .study import STATEMENTS_TABLE, Study


def hashed(spec: dict) -> dict:
    """The spec with the hash of what it depends on (its ``config``, not the whole study: an
    unrelated change does not re-run it)."""
    return {**spec, "config_hash": config_hash(spec["config"])}


def _seeds(seeds) -> str:
    return ", ".join(map(str, seeds))


class Specs:
    """The specs of a :class:`~.study.Study`'s artifacts (paper, science, frontier) and the notes on scale."""

    def __init__(self, study: Study, science: ScienceTargets, cost: Cost, frontier: FrontierPlan):
        self.study = study
        self.science = science
        self.cost = cost
        self.frontier = frontier

    def scale_note(self, dataset: str, evaluation: bool = True, iterations: str | None = None) -> str:
        """What the numbers are: scale, budget, test-set size (``evaluation``: the ``evaluation``
        section's images and the study's seeds; left out where a check says its own;
        ``iterations``: what stands for the dataset's steps where no model trains for them)."""
        t = self.study.config["training"][dataset]
        n = self.study.config["evaluation"]["n_test"] or "all"
        seeds = len(self.study.seeds)
        tested = f"{n} test images, {seeds} seed{'s' if seeds > 1 else ''}, " if evaluation else ""
        note = (
            f"{self.study.config['scale']} scale: {iterations or t['steps']} iterations of batch {t['batch_size']}, "
            f"{tested}precision {self.study.compute['precision']}"
        )
        if self.study.config["scale"] == "smoke":
            note = f"SMOKE OUTPUT, NOT A RESULT: {note}"
        elif self.study.config["scale"] == "wong2020":
            network = self.study.config["data"][dataset].get("network", "the dataset's default")
            note = note.replace("wong2020 scale: ", f"Wong et al. 2020's MNIST recipe on network {network}: ", 1)
        elif self.study.config["scale"] != "paper":
            seen = t["steps"] * t["batch_size"]
            note += f" ({seen:,} training images seen); the paper's numbers are not expected at this budget"
        return note

    def training(self, dataset: str) -> dict:
        """``training.<dataset>`` as a spec's config holds it: ``eps_warmup`` only when set (off, the
        specs and their hashes are what they were before the key existed)."""
        t = self.study.config["training"][dataset]
        return {k: v for k, v in t.items() if k != "eps_warmup" or v}

    def science_note(
        self, dataset: str, n, seeds=None, sample_seed=None, model_seeds=None, own=False, iterations=None
    ) -> str:
        """scale_note, and the test subset (n: None = all; with ``sample_seed`` drawn at random) and
        seeds of the check; ``model_seeds``: {column: seeds} of the models that have their own;
        ``own``: the check says its images and seeds only (not the ``evaluation`` section's too)."""
        if not n:
            subset = "all test images"
        elif sample_seed is not None:
            subset = f"{n} test images drawn at random (seed {sample_seed})"
        else:
            subset = f"the first {n} test images"
        note = f"{self.scale_note(dataset, evaluation=not own, iterations=iterations)}; this check on {subset}"
        if seeds is not None and (own or model_seeds or list(seeds) != list(self.study.seeds)):
            note += f" and seed{'s' if len(seeds) > 1 else ''} {_seeds(seeds)}"
            others = "; ".join(f"{c} {_seeds(v)}" for c, v in (model_seeds or {}).items())
            if others:
                note += f" ({others})"
            elif not own:
                note += " only"  # fewer than the study's, which the scale note counts
        return note

    def _frontier_note(self, n, sampled: bool = True) -> str:
        """science_note of the frontier: its images (``sampled``: drawn with ``sample_seed`` when
        set, as its evaluations are; the snapshots' are the first n) and its seeds, with the
        defenses that have their own (``model_seeds``) named."""
        fr = self.study.frontier
        model_seeds = {}
        for m, seeds in (fr.get("model_seeds") or {}).items():  # declared models (trained, or derived from)
            if sorted(seeds) != sorted(fr["seeds"]):
                model_seeds.setdefault(self.study.models[m]["column"], seeds)
        sample_seed = fr.get("sample_seed") if sampled else None
        # without the equal-iterations protocol no model trains for training.<dataset>.steps
        own_steps = None if "equal_iterations" in fr["protocols"] else "each model's own"
        return self.science_note(
            fr["dataset"], n, fr["seeds"], sample_seed, model_seeds, own=True, iterations=own_steps
        )

    def model_info(self, models, *keys: str) -> dict:
        return {m: {k: self.study.models[m][k] for k in ("column", "label", *keys)} for m in models}

    def table_spec(self, name: str) -> dict:
        t = self.study.tables[name]
        if t["kind"] == "whitebox":
            rows = t["attacks"]
            row_labels = {a: self.study.attacks[a]["label"] for a in rows}
        else:
            rows = t["substitutes"]
            row_labels = {s: f"{self.study.models[s]['column']} ({self.study.models[s]['label']})" for s in rows}
        return hashed(
            {
                "name": name,
                "kind": t["kind"],
                "title": t["title"],
                "paper_table": t["paper_table"],
                "rows": rows,
                "row_labels": row_labels,
                "models": t["models"],
                "model_info": self.model_info(t["models"]),
                "note": self.scale_note(t["dataset"]),
                "config": {
                    "models": {m: self.study.models[m] for m in t["models"] + t.get("substitutes", [])},
                    "attacks": {a: self.study.attacks[a] for a in t.get("attacks", [t.get("attack")])},
                    "training": self.training(t["dataset"]),
                    "evaluation": self.study.config["evaluation"],
                    "seeds": self.study.seeds,
                    "scale": self.study.config["scale"],
                },
            }
        )

    def cost_spec(self) -> dict:
        return {
            "note": self.scale_note(self.study.active[0] if self.study.active else self.study.config["datasets"][0])
        }

    def artifact_name(self, name: str) -> str:
        """A table's or figure's paper name from its title ('Table 3.1', 'Figure 3.3'), else its config name."""
        entry = self.study.tables[name] if name in self.study.tables else self.study.figures[name]
        match = re.match(r"(Table|Figure) [0-9.]*[0-9]", entry["title"])
        return match.group(0) if match else name

    def surface_labels(self, figure: str) -> list[str]:
        return [
            f"{self.study.models[m]['column']} ({self.study.models[m]['label']})"
            for m in self.study.figures[figure]["models"]
        ]

    def surface_title(self, figure: str, panel: str) -> str:
        f = self.study.figures[figure]
        attack = self.study.attacks[f["panels"][panel]]["label"]
        return f"{f['title']} ({panel}): {attack} directions; {self.scale_note(f['dataset'])}"

    def ablation_spec(self) -> dict:
        name = self.study.ablation["table"]
        t = self.study.tables[name]
        base = self.study.ablation["base"]
        return hashed(
            {
                "title": f"Second-step ablation of {base}: each reading of eq. 3.2 at the same budget and seeds",
                "base": base,
                "variants": self.study.ablation_variants,
                "attacks": t["attacks"],
                "attack_labels": {a: self.study.attacks[a]["label"] for a in t["attacks"]},
                "paper_table": t["paper_table"],
                "paper_model": base,
                "note": self.scale_note(t["dataset"]),
                "config": {
                    "models": {m: self.study.models[m] for m in self.study.ablation_variants.values()},
                    "training": self.training(t["dataset"]),
                    "evaluation": self.study.config["evaluation"],
                    "seeds": self.study.seeds,
                },
            }
        )

    def robustness_spec(self) -> dict:
        models, attacks, clean = (
            self.science.robust_models(),
            self.science.robust_attacks(),
            self.science.clean_attack(),
        )
        rb = self.study.robust
        return hashed(
            {
                "title": "Stronger evaluation: the paper's attack beside the strongest attack found",
                "models": models,
                "model_info": self.model_info(models),
                "reference": rb["reference"],
                "attacks": attacks,
                "clean": clean,
                "attack_labels": {a: self.study.science_attacks[a]["label"] for a in attacks + [clean] if a},
                "paper_table": self.study.active_tables(rb["tables"])[0],
                "flag_drop": rb["flag_drop"],
                "note": self.science_note(
                    self.study.dataset_of(models[0]), rb["n_test"], self.study.robust_seeds, own=True
                ),
                "config": {
                    "attacks": {a: self.study.science_attacks[a] for a in attacks},
                    "n_test": rb["n_test"],
                    "seeds": self.study.robust_seeds,
                },
            }
        )

    def sanity_spec(self) -> dict:
        models = self.science.sanity_models()
        attacks, transfer = {}, {}
        for name in self.science.sanity_tables():
            for a in self.science.table_attacks(name):
                attacks[a] = {k: self.study.attacks[a][k] for k in ("kind", "eps", "k") if k in self.study.attacks[a]}
            if self.study.tables[name]["kind"] == "transfer":
                transfer[name] = self.study.tables[name]["attack"]
        s = self.study.sanity
        return hashed(
            {
                "models": models,
                "model_labels": {
                    m: f"{self.study.models[m]['column']}, {self.study.models[m]['label']}" for m in models
                },
                "attacks": attacks,
                "transfer_attacks": transfer,
                "sweep_labels": {n: x["label"] for n, x in s["sweeps"].items()},
                "classes": self.study.config["data"][self.study.dataset_of(models[0])]["classes"],
                "note": self.science_note(
                    self.study.dataset_of(models[0]), s["n_test"], self.study.sanity_seeds, own=True
                ),
                "config": {
                    "eps": s["eps"],
                    "sweeps": s["sweeps"],
                    "n_test": s["n_test"],
                    "seeds": self.study.sanity_seeds,
                },
            }
        )

    def statements_spec(self) -> dict:
        t = self.study.tables[STATEMENTS_TABLE]
        keep = ("kind", "eps", "k")
        return {
            "attacks": {
                a: {k: self.study.attacks[a][k] for k in keep if k in self.study.attacks[a]} for a in t["attacks"]
            },
            "note": self.scale_note(t["dataset"]),
        }

    def published_points(self) -> list[dict]:
        """The published results of the frontier's defenses (:mod:`e2sad.science.published`) under
        its attacks, each at its own training FLOPs: its steps x batch x the defense's passes (with
        the frontier model's hyperparameters), each counted on its own network; ``differs``: the
        frontier's trained models of that defense that did not train by its recipe, each with how
        (:meth:`recipe_difference`), so that none is compared with it."""
        fr = self.study.frontier
        by_defense = {}
        for m in fr["models"]:
            by_defense.setdefault(self.study.models[m]["defense"], self.study.models[m])
        out = []
        for p in PUBLISHED:
            if p.dataset != fr["dataset"] or p.defense not in by_defense:
                continue
            values = {a: v for a, v in p.values().items() if a in fr["attacks"]}
            if not values:
                continue
            m = by_defense[p.defense]
            pass_flops = self.cost.pass_flops(fr["dataset"], p.network)
            flops = p.steps * p.batch_size * step_flops(p.defense, m, pass_flops, self.study.compute["merge_clean"])
            out.append(
                {
                    "key": p.key,
                    "defense": p.defense,
                    "label": p.label,
                    "source": p.source,
                    "network": p.network,
                    "steps": p.steps,
                    "batch_size": p.batch_size,
                    "train_flops": flops,
                    "accuracies": values,
                    "tolerance": {a: t for a, t in p.tolerance.items() if a in values},
                    "n_test": p.n_test,
                    "differs": {
                        t: d
                        for t in self.study.frontier_trained()
                        if self.study.models[t]["defense"] == p.defense and (d := self.recipe_difference(t, p))
                    },
                }
            )
        return out

    def recipe_difference(self, model: str, p) -> str:
        """How a model's training differs from a published recipe (network, batch and the keys of
        ``p.recipe``), e.g. ``eps_warmup 0.3 (published 0)``; ``""`` when it trains by it."""
        t = self.study.training_of(model)
        network = self.study.config["data"][self.study.dataset_of(model)]["network"]
        want = {"network": p.network, "batch_size": p.batch_size, **p.recipe}
        have = {"network": network, **t}
        return ", ".join(f"{k} {have.get(k)} (published {v})" for k, v in want.items() if have.get(k) != v)

    def frontier_spec(self) -> dict:
        fr = self.study.frontier
        trained = self.study.frontier_trained()
        info = self.model_info(trained, "defense")
        for m in trained:
            info[m].update(steps=self.study.steps_of(m), train_flops=self.cost.train_flops(m))
        natural = next((m for m in trained if self.study.models[m]["defense"] == "natural" and SEP not in m), None)
        return hashed(
            {
                "title": fr["title"],
                "cells": [list(c) for c in self.study.cells],
                "budgets": list(fr["budgets"]),
                "unit_steps": fr.get("budget_steps", self.study.steps_of(fr["budget"])),
                "attacks": list(fr["attacks"]),
                "attack_labels": {a: self.study.science_attacks[a]["label"] for a in fr["attacks"]},
                "model_info": info,
                "robust": fr["robust"],
                "reference": fr.get("reference"),
                "natural": natural,
                "clean": next((a for a in fr["attacks"] if self.study.science_attacks[a]["kind"] == "none"), None),
                "classes": self.study.config["data"][fr["dataset"]]["classes"],
                "budget": fr["budget"],
                "overfit_drop": fr["overfit_drop"],
                **self._overfit_options(),
                "published": self.published_points(),
                **self._released_points(),
                "note": self._frontier_note(fr["n_test"]),
                "config": {k: fr[k] for k in sorted(fr)},
            }
        )

    def snapshot_spec(self) -> dict:
        fr = self.study.frontier
        attacks = list(fr["snapshot_attacks"])
        kinds = {a: self.study.science_attacks[a]["kind"] for a in attacks}
        kept = self.frontier.snapshotted()  # the declared models at equal iterations, by default
        return hashed(
            {
                "title": "Robustness along training",
                "models": kept,
                "model_info": self.model_info(kept, "defense"),
                "attacks": attacks,
                "attack_labels": {a: self.study.science_attacks[a]["label"] for a in attacks},
                "single_step": next((a for a in attacks if kinds[a] == "fgsm"), None),
                "iterative": next((a for a in attacks if kinds[a] != "fgsm"), None),
                "overfit_drop": fr["overfit_drop"],
                "note": self._frontier_note(fr["snapshot_n_test"], sampled=False),
                "config": {k: fr[k] for k in ("snapshots", "snapshot_attacks", "snapshot_n_test", "overfit_drop")}
                | {k: fr[k] for k in ("snapshot_protocols",) if k in fr}  # only when set: hashes as before
                | self._overfit_options(),
                **self._overfit_options(),
            }
        )

    def _released_points(self) -> dict:
        """``released``: the released models the user supplied (``released.models``), each at its
        recipe's training FLOPs (:meth:`.released.ReleasedPlan.frontier_points`), in the frontier's
        spec only when there are any (none, the spec and its hash are what they were)."""
        points = ReleasedPlan(self.study).frontier_points(self.cost)
        return {"released": points} if points else {}

    def _overfit_options(self) -> dict:
        """``frontier.overfit_gap`` and ``overfit_hold`` in a spec only when set (unset, the specs
        and their hashes are what they were before the keys existed)."""
        fr = self.study.frontier
        return {k: fr[k] for k in ("overfit_gap", "overfit_hold") if fr.get(k) is not None}
