"""The cost-robustness frontier's part of the plan (models, inputs, specs; the table, figure and
statements are :mod:`e2sad.science.frontier`)."""

from __future__ import annotations

from ..science import frontier_cells
from .specs import hashed
from .targets import FIGURE_FORMATS, TABLE_FORMATS


class Frontier:
    """Mixin of :class:`e2sad.plan.Study`: the ``frontier`` section and robustness along training."""

    def frontier_active(self) -> bool:
        return bool(self.frontier) and self.frontier["dataset"] in self.active

    def frontier_category(self) -> str | None:
        """The report category of the frontier's products (``frontier.category``)."""
        return self.frontier["category"] if self.frontier else None

    def frontier_seeds(self) -> list:
        return self.frontier["seeds"]

    def frontier_trained(self) -> list[str]:
        """The models the frontier's rows are trained as (declared and equal-cost ones)."""
        if not self.frontier_active():
            return []
        return list(dict.fromkeys(c[2] for c in self.frontier_cells()))

    def frontier_cells(self) -> list[tuple]:
        """(declared model, protocol, trained model, budget multiple) of every frontier row."""
        return frontier_cells(self.config, self._entry_cost)

    def frontier_model_files(self) -> list[str]:
        return [self.model_file(m, s) for m in self.frontier_trained() for s in self.frontier_seeds()]

    def frontier_inputs(self) -> list[str]:
        return [
            self.layout.path("frontier_eval", model=m, seed=s, attack=a)
            for m in self.frontier_trained()
            for s in self.frontier_seeds()
            for a in self.frontier["attacks"]
        ]

    def published_points(self) -> list[dict]:
        """The published results of the frontier's defenses (:mod:`e2sad.science.published`) under
        its attacks, each at its own training cost: its steps x batch x the defense's passes (with
        the frontier model's hyperparameters) x its network's forward FLOPs."""
        from ..defenses import step_cost
        from ..science.published import PUBLISHED

        fr = self.frontier
        by_defense = {}
        for m in fr["models"]:
            by_defense.setdefault(self.models[m]["defense"], self.models[m])
        out = []
        for p in PUBLISHED:
            if p.dataset != fr["dataset"] or p.defense not in by_defense:
                continue
            values = {a: v for a, v in p.values().items() if a in fr["attacks"]}
            if not values:
                continue
            m = by_defense[p.defense]
            passes = step_cost(p.defense, m, self.compute["merge_clean"])
            flops = p.steps * p.batch_size * passes * self.forward_flops(fr["dataset"], p.network)
            out.append(
                {
                    "key": p.key,
                    "defense": p.defense,
                    "label": p.label,
                    "source": p.source,
                    "network": p.network,
                    "steps": p.steps,
                    "batch_size": p.batch_size,
                    "tflop": flops / 1e12,
                    "accuracies": values,
                    "tolerance": {a: t for a, t in p.tolerance.items() if a in values},
                }
            )
        return out

    def frontier_spec(self) -> dict:
        from .study import SEP

        fr = self.frontier
        trained = self.frontier_trained()
        fwd = self.forward_flops(fr["dataset"])
        info = self._model_info(trained, "defense")
        for m in trained:
            info[m].update(steps=self.steps_of(m), tflop=self.train_cost(m) * fwd / 1e12)
        natural = next((m for m in trained if self.models[m]["defense"] == "natural" and SEP not in m), None)
        return hashed(
            {
                "title": fr["title"],
                "cells": [list(c) for c in self.frontier_cells()],
                "budgets": list(fr["budgets"]),
                "unit_steps": fr.get("budget_steps", self.steps_of(fr["budget"])),
                "attacks": list(fr["attacks"]),
                "attack_labels": {a: self.science_attacks[a]["label"] for a in fr["attacks"]},
                "model_info": info,
                "robust": fr["robust"],
                "reference": fr.get("reference"),
                "natural": natural,
                "budget": fr["budget"],
                "overfit_drop": fr["overfit_drop"],
                **self._overfit_gap(),
                "published": self.published_points(),
                "note": self.science_note(fr["dataset"], fr["n_test"], self.frontier_seeds()),
                "config": {k: fr[k] for k in sorted(fr)},
            }
        )

    def snapshot_steps(self, model: str) -> list[int]:
        """Steps after which a frontier model is kept: ``frontier.snapshots`` below its own steps,
        and its last step (the final model)."""
        if not self.frontier_active() or not self.frontier["snapshots"] or model not in self.frontier["models"]:
            return []
        steps = self.steps_of(model)
        return sorted({s for s in self.frontier["snapshots"] if s < steps} | {steps})

    def snapshot_inputs(self) -> list[str]:
        if not self.frontier_active():
            return []
        return [
            self.layout.path("snapshot_eval", model=m, seed=s, step=k, attack=a)
            for m in self.frontier["models"]
            for s in self.frontier_seeds()
            for k in self.snapshot_steps(m)
            for a in self.frontier["snapshot_attacks"]
        ]

    def snapshot_spec(self) -> dict:
        fr = self.frontier
        attacks = list(fr["snapshot_attacks"])
        kinds = {a: self.science_attacks[a]["kind"] for a in attacks}
        return hashed(
            {
                "title": "Robustness along training",
                "models": list(fr["models"]),
                "model_info": self._model_info(fr["models"], "defense"),
                "attacks": attacks,
                "attack_labels": {a: self.science_attacks[a]["label"] for a in attacks},
                "single_step": next((a for a in attacks if kinds[a] == "fgsm"), None),
                "iterative": next((a for a in attacks if kinds[a] != "fgsm"), None),
                "overfit_drop": fr["overfit_drop"],
                "note": self.science_note(fr["dataset"], fr["snapshot_n_test"], self.frontier_seeds()),
                "config": {k: fr[k] for k in ("snapshots", "snapshot_attacks", "snapshot_n_test", "overfit_drop")}
                | self._overfit_gap(),
                **self._overfit_gap(),
            }
        )

    def _overfit_gap(self) -> dict:
        """``frontier.overfit_gap`` in a spec only when set (unset, the specs and their hashes are
        what they were before the key existed)."""
        gap = self.frontier.get("overfit_gap")
        return {} if gap is None else {"overfit_gap": gap}

    def frontier_targets(self) -> list[str]:
        if not self.frontier_active():
            return []
        out = self.layout.paths("frontier", TABLE_FORMATS + FIGURE_FORMATS)
        if self.snapshot_inputs():
            out += self.layout.paths("snapshots", ("csv", "html") + FIGURE_FORMATS)
        return out
