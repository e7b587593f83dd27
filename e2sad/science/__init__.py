"""Scientific-validity checks of the reproduction (``snakemake science``).

Five products, each a pure function of result files so that it can be tested
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
  than ``flag_drop`` is flagged "possible gradient masking".
- **Sanity checks** (:mod:`.sanity`, :func:`sanity_checks`): accuracy falls to
  about 0 as eps grows toward 1; iterative attacks are at least as strong as
  single-step ones at the same eps; white-box attacks are at least as strong
  as transfer from any substitute.  Failed checks are shown, never dropped.
- **Cost-robustness frontier** (:mod:`.frontier`, :func:`frontier_table`): e2SAD
  beside FGSM-RS, PGD-AT and TRADES at equal iterations and at equal training
  cost, under AutoAttack, with its own checked statements and figure.
- **Checked statements** (:mod:`.statements`, :func:`check_statements`): the
  paper's qualitative claims about Table 3.1 and the training cost, each PASS
  or FAIL with the numbers behind it.

Every check is a small function named after what it flags, returning one
:class:`.verdict.Check` (name, verdict, numbers, sentence) with one vocabulary,
:class:`.verdict.Verdict`: PASS, FAIL, UNDECIDED (an interval straddles the
threshold, see :func:`.verdict.decide`), NOT RUN (an input is missing).
Several seeds of one quantity become mean and standard deviation (as in
:mod:`e2sad.tables`); verdicts are taken on the mean.  Every file is written by
:func:`e2sad.render.write_table`.  The names below are the package's public
interface (``e2sad.cli``, ``e2sad.config``, the workflow and the tests import
them from ``e2sad.science``).
"""

from __future__ import annotations

from ..errors import DataError
from .ablation import (
    ABLATION_SEP,
    TIE_TOL,
    ablation_models,
    ablation_table,
    ablation_variant_models,
    ablation_verdict,
    read_g2,
    render_ablation,
)
from .common import (
    ITERATIVE_KINDS,
    SINGLE_STEP_KINDS,
    attack_eps,
    attack_kind,
    fmt_ms,
    load_json_rows,
    paper_column,
    tex_escape,
)
from .frontier import (
    PROTOCOLS,
    catastrophic_overfitting,
    frontier_cells,
    frontier_model_name,
    frontier_models,
    frontier_statements,
    frontier_table,
    plot_frontier,
    plot_snapshots,
    render_frontier,
    render_snapshots,
    snapshot_frame,
    snapshot_seeds,
)
from .robustness import (
    DEFAULT_FLAG_DROP,
    FLAG_TEXT,
    flag_masking,
    possible_gradient_masking,
    render_robustness,
    robustness_table,
)
from .sanity import (
    ITERATIVE_MAX_ACC_AT_MAX_EPS,
    SANITY_TOL,
    SINGLE_STEP_MAX_ACC_AT_MAX_EPS,
    render_sanity,
    sanity_checks,
    sanity_report,
    sweep_frame,
)
from .statements import (
    BEAT_FGSM_EPS,
    FAR_LESS_COST_RATIO,
    NO_DEFENSE_MAX_ACC,
    RESIST_MIN_ACC,
    check_statements,
    render_statements,
)
from .verdict import Check, Verdict, all_of, decide, tally

__all__ = [
    "ABLATION_SEP",
    "Check",
    "Verdict",
    "all_of",
    "decide",
    "possible_gradient_masking",
    "tally",
    "BEAT_FGSM_EPS",
    "DEFAULT_FLAG_DROP",
    "DataError",
    "FAR_LESS_COST_RATIO",
    "FLAG_TEXT",
    "PROTOCOLS",
    "ITERATIVE_KINDS",
    "ITERATIVE_MAX_ACC_AT_MAX_EPS",
    "NO_DEFENSE_MAX_ACC",
    "RESIST_MIN_ACC",
    "SANITY_TOL",
    "SINGLE_STEP_KINDS",
    "SINGLE_STEP_MAX_ACC_AT_MAX_EPS",
    "TIE_TOL",
    "ablation_models",
    "ablation_table",
    "ablation_variant_models",
    "ablation_verdict",
    "attack_eps",
    "attack_kind",
    "check_statements",
    "flag_masking",
    "catastrophic_overfitting",
    "snapshot_seeds",
    "frontier_cells",
    "frontier_model_name",
    "frontier_models",
    "frontier_statements",
    "frontier_table",
    "plot_frontier",
    "render_frontier",
    "render_snapshots",
    "plot_snapshots",
    "snapshot_frame",
    "fmt_ms",
    "load_json_rows",
    "paper_column",
    "read_g2",
    "render_ablation",
    "render_robustness",
    "render_sanity",
    "render_statements",
    "robustness_table",
    "sanity_checks",
    "sanity_report",
    "sweep_frame",
    "tex_escape",
]
