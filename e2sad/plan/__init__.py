"""The study plan: what a checked config asks for, as files and command lines.

A :class:`~.study.Study` is a small record (the resolved config, the layout, every model it trains);
the objects that read it each do one job: :class:`~.targets.Targets` and
:class:`~.science_targets.ScienceTargets` (which files each target builds and each job reads),
:class:`~.commands.Commands` (the options of each job: every hyperparameter explicit, so that
changing one changes exactly the jobs that depend on it), :class:`~.cost.Cost` (FLOPs and the
projection printed before a run), :class:`~.specs.Specs` (what each artifact says, with the hash of
what it depends on), :class:`~.frontier.FrontierPlan` and :class:`~.released.ReleasedPlan` (the
released models: their files, table and frontier points).  :class:`Plan` builds them once for the
workflow (``workflow/rules/common.smk``); :mod:`.models` derives which models a config implies and
:mod:`.layout` says where each file lives.  Imports inside this package point one way:
layout, models -> study -> science_targets -> targets, frontier, released -> cost -> commands, specs.
"""

from __future__ import annotations

from dataclasses import dataclass

from .commands import Commands
from .cost import Cost
from .frontier import FrontierPlan
from .layout import LOGS, PATTERNS, Layout
from .released import ReleasedPlan
from .science_targets import ScienceTargets
from .specs import Specs
from .study import STATEMENTS_TABLE, Study, load_study
from .targets import Targets


@dataclass(frozen=True)
class Plan:
    """The objects that read one :class:`Study`, built once and wired to each other."""

    study: Study
    science: ScienceTargets
    targets: Targets
    frontier: FrontierPlan
    cost: Cost
    commands: Commands
    specs: Specs
    released: ReleasedPlan

    @classmethod
    def of(cls, study: Study) -> Plan:
        science = ScienceTargets(study)
        targets = Targets(study, science)
        frontier = FrontierPlan(study)
        cost = Cost(study, targets)
        return cls(
            study,
            science,
            targets,
            frontier,
            cost,
            Commands(study, frontier),
            Specs(study, science, cost, frontier),
            ReleasedPlan(study),
        )


__all__ = ["LOGS", "PATTERNS", "STATEMENTS_TABLE", "Layout", "Plan", "Study", "load_study"]
