"""The cost-robustness frontier's files: which models and seeds it trains, which evaluations and
snapshots it reads, what it builds (its specs are :mod:`.specs`; the table, figure and statements
:mod:`e2sad.science.frontier`)."""

from __future__ import annotations

from .science_targets import FIGURE_FORMATS, TABLE_FORMATS
from .study import Study

#: the protocols whose models are snapshotted where ``frontier.snapshot_protocols`` is absent
SNAPSHOT_PROTOCOLS = ("equal_iterations",)


class FrontierPlan:
    """The ``frontier`` section of a :class:`~.study.Study` and robustness along training."""

    def __init__(self, study: Study):
        self.study = study
        self.section = study.frontier

    def category(self) -> str | None:
        """The report category of the frontier's products (``frontier.category``)."""
        return self.section["category"] if self.section else None

    def seeds(self) -> list:
        """The frontier's seeds (``frontier.seeds``): every model's unless it has its own."""
        return self.section["seeds"]

    def seeds_of(self, trained: str) -> list:
        """The seeds a frontier model is trained and evaluated on (:meth:`Study.frontier_seeds_of`)."""
        return self.study.frontier_seeds_of(trained)

    def cells(self) -> list[tuple]:
        """(declared model, protocol, trained model, budget multiple) of every frontier row."""
        return self.study.cells

    def trained(self) -> list[str]:
        return self.study.frontier_trained()

    def model_files(self) -> list[str]:
        return [self.study.model_file(m, s) for m in self.trained() for s in self.seeds_of(m)]

    def inputs(self) -> list[str]:
        return [
            self.study.layout.path("frontier_eval", model=m, seed=s, attack=a)
            for m in self.trained()
            for s in self.seeds_of(m)
            for a in self.section["attacks"]
        ]

    def snapshotted(self) -> list[str]:
        """The trained models kept along training: those of the cells whose protocol is in
        ``frontier.snapshot_protocols`` (by default the declared models, at equal iterations)."""
        if not self.study.frontier_active() or not self.section["snapshots"]:
            return []
        protocols = self.section.get("snapshot_protocols") or SNAPSHOT_PROTOCOLS
        return list(dict.fromkeys(t for _, p, t, _ in self.cells() if p in protocols))

    def snapshot_steps(self, model: str) -> list[int]:
        """Steps after which a snapshotted model (:meth:`snapshotted`) is kept: ``frontier.snapshots``
        below its own steps, and its last step (the final model)."""
        fr = self.section
        if model not in self.snapshotted():
            return []
        steps = self.study.steps_of(model)
        return sorted({s for s in fr["snapshots"] if s < steps} | {steps})

    def snapshot_inputs(self) -> list[str]:
        if not self.study.frontier_active():
            return []
        return [
            self.study.layout.path("snapshot_eval", model=m, seed=s, step=k, attack=a)
            for m in self.snapshotted()
            for s in self.seeds_of(m)
            for k in self.snapshot_steps(m)
            for a in self.section["snapshot_attacks"]
        ]

    def targets(self) -> list[str]:
        if not self.study.frontier_active():
            return []
        out = self.study.layout.paths("frontier", TABLE_FORMATS + FIGURE_FORMATS)
        out.append(self.study.layout.path("frontier_statements"))
        if self.snapshot_inputs():
            out += self.study.layout.paths("snapshots", ("csv", "html") + FIGURE_FORMATS)
        return out
