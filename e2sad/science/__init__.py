"""Scientific-validity checks of the reproduction (``snakemake science``).

Pure: result rows and a spec in (the spec written by the plan, :mod:`e2sad.plan`, with every
setting resolved from the config), tables, figures and checks out; nothing here reads the config
schema or plans models.  Five products, each a function of result files so that it can be tested
without training, each in its own module:

- **Second-step ablation** (:mod:`.ablation`, :func:`ablation_table`): e2SAD
  trained with each reading of eq. 3.2 (``second_step``: literal, entropy,
  random_start, clean_target) at one budget and seed set; per variant the
  e2SAD column of Table 3.1 beside the paper's, the mean |difference|, and the
  measured size of the second-step gradient (mean |g2| and g2/g1 from the
  model sidecars).  The variant closest to the paper is named, with its numbers.
- **Stronger evaluation** (:mod:`.robustness`, :func:`robustness_table`): per
  model the paper's attack (IFGSM, k = 30) beside the strongest attack found
  (PGD with random restarts, APGD-CE, APGD-T of AutoAttack); a drop of more
  than the spec's ``flag_drop`` is flagged "possible gradient masking".
- **Sanity checks** (:mod:`.sanity`, :func:`sanity_checks`): accuracy falls to
  about 0 as eps grows toward 1; iterative attacks are at least as strong as
  single-step ones at the same eps; white-box attacks are at least as strong
  as transfer from any substitute.  Failed checks are shown, never dropped.
- **Cost-robustness frontier** (the subpackage :mod:`.frontier`): e2SAD beside FGSM-RS,
  PGD-AT and TRADES at equal iterations and at equal training cost, under AutoAttack: the
  table (:mod:`.frontier.table`, :func:`frontier_table`), its checked statements
  (:mod:`.frontier.claims`), robustness along training and catastrophic overfitting
  (:mod:`.frontier.snapshots`), the figures (:mod:`.frontier.figure`).
- **Checked statements** (:mod:`.statements`, :func:`check_statements`): the
  paper's qualitative claims about Table 3.1 and the training cost, each PASS
  or FAIL with the numbers behind it.

Shared: :mod:`.common` (attack names, result rows, mean +- std, paper values), :mod:`.intervals`
(95 % intervals over the test images and the seeds), :mod:`.published` (published results of
the frontier's defenses, read by the plan), :mod:`.released` (the released models' table and their
points on the frontier, ``snakemake released``).

Every check is a small function named after what it flags, returning one
:class:`.verdict.Check` (name, verdict, numbers, sentence) with one vocabulary,
:class:`.verdict.Verdict`: PASS, FAIL, UNDECIDED (an interval straddles the
threshold, see :func:`.verdict.decide`), NOT RUN (an input is missing).
Several seeds of one quantity become mean and standard deviation (as in
:mod:`e2sad.tables`); verdicts are taken on the mean.  Every file is written by
:func:`e2sad.render.write_table`.  The names below are the ones imported from
``e2sad.science`` elsewhere (``e2sad.cli`` and the tests); everything else is
imported from its own module.
"""

from __future__ import annotations

from .ablation import TIE_TOL, ablation_table, ablation_verdict, read_g2, render_ablation
from .common import load_json_rows, paper_column
from .frontier import (
    catastrophic_overfitting,
    frontier_statements,
    frontier_table,
    plot_frontier,
    plot_snapshots,
    render_frontier,
    render_snapshots,
    snapshot_frame,
    snapshot_seeds,
)
from .robustness import FLAG_TEXT, flag_masking, possible_gradient_masking, render_robustness, robustness_table
from .sanity import render_sanity, sanity_checks, sanity_report
from .statements import check_statements, render_statements
from .verdict import Verdict

__all__ = [
    "FLAG_TEXT",
    "TIE_TOL",
    "Verdict",
    "ablation_table",
    "ablation_verdict",
    "catastrophic_overfitting",
    "check_statements",
    "flag_masking",
    "frontier_statements",
    "frontier_table",
    "load_json_rows",
    "paper_column",
    "plot_frontier",
    "plot_snapshots",
    "possible_gradient_masking",
    "read_g2",
    "render_ablation",
    "render_frontier",
    "render_robustness",
    "render_sanity",
    "render_snapshots",
    "render_statements",
    "robustness_table",
    "sanity_checks",
    "sanity_report",
    "snapshot_frame",
    "snapshot_seeds",
]
