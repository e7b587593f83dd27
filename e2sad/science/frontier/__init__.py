"""The cost-robustness frontier (``snakemake frontier``): e2SAD against the fast adversarial
training methods that followed it (FGSM-RS, PGD-AT, TRADES), at equal cost, under AutoAttack.

Three protocols, named on every artifact (the plan derives their models: :mod:`e2sad.plan.models`):

- ``equal_iterations`` (the paper's): every defense with the same steps and batch; these are
  the models ``all`` trains (nothing is trained twice);
- ``equal_cost``: every defense trained for the number of steps whose training FLOPs equal the
  budget model's (by default e2SAD's) times each multiple (:meth:`e2sad.plan.cost.Cost.train_flops`:
  steps x batch x the defense's declared passes, each counted on the network as what it computes:
  :mod:`e2sad.flops`).  The derived model is ``<model>__equal_cost`` (the budget model itself is not trained again);
- ``own_recipe``: a method's own published training recipe (``frontier.recipes``: steps, batch
  size, optimizer, learning rate, schedule), for the models that declare one
  (``<model>__own_recipe``).

The table gives per (model, protocol) the steps, the training FLOPs (in TFLOP), the measured
training seconds and machine, the measured step time x natural, and the accuracy under each
frontier attack (mean +- std over seeds); the figure AutoAttack (the ``robust`` attack) accuracy
against training FLOPs (log x).

Modules, each importing only those above it:

- :mod:`.claims`: the checked statements (:func:`frontier_statements`, one function per claim);
- :mod:`.table`: the table (:func:`frontier_table`) and its CSV, LaTeX and HTML (:func:`render_frontier`);
- :mod:`.snapshots`: robustness along training (:func:`snapshot_frame`, :func:`snapshot_seeds`),
  the catastrophic-overfitting detector (:func:`catastrophic_overfitting`) and its table
  (:func:`render_snapshots`);
- :mod:`.figure`: the two figures (:func:`plot_frontier`, :func:`plot_snapshots`).
"""

from __future__ import annotations

from .claims import frontier_statements
from .figure import plot_frontier, plot_snapshots
from .snapshots import catastrophic_overfitting, render_snapshots, snapshot_frame, snapshot_seeds
from .table import frontier_table, render_frontier

__all__ = [
    "catastrophic_overfitting",
    "frontier_statements",
    "frontier_table",
    "plot_frontier",
    "plot_snapshots",
    "render_frontier",
    "render_snapshots",
    "snapshot_frame",
    "snapshot_seeds",
]
