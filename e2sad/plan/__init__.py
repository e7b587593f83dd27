"""The study plan: what a checked config asks for, as files and command lines.

:class:`Study` answers the workflow (``workflow/rules/*.smk``) and the tests: which models and seeds
are trained, which evaluations, crafts, loss surfaces, tables and checks exist, the command-line
options of each job (every hyperparameter explicit, so that changing one changes exactly the jobs
that depend on it) and each table's or check's spec with the hash of what it depends on.  Split by
concern: :mod:`.layout` (where each file lives), :mod:`.commands` (command lines), :mod:`.cost`
(FLOPs and the projection printed before a run), :mod:`.specs` (what each artifact says),
:mod:`.targets` (which files each target builds).
"""

from .layout import LOGS, PATTERNS, Layout
from .study import SEP, STATEMENTS_TABLE, Study

__all__ = ["LOGS", "PATTERNS", "SEP", "STATEMENTS_TABLE", "Layout", "Study"]
