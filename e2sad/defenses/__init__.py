"""The declared defenses as training losses, one signature for all::

    defense(model, x, y, *, generator=None, **hyperparameters) -> Step

``x``: a (N, C, H, W) batch in [0, 1]; ``y``: the training targets, class
indices or label-smoothed distributions (N, classes) (:func:`smooth_labels` with
the dataset's classes); any number of classes, the model's output width; the same
targets are used by the attack inside training (Algorithm 1, line 3:
CE(y_i, f(x_i))).  The returned ``Step.loss`` is the scalar to minimise; the
trainer asks its backward for parameter gradients only.  ``Step.terms`` holds
detached per-term values for the log.

Forward passes are reused wherever the math allows: the clean forward is kept
and gives both the clean loss and the first attack step's input gradient; the
first adversarial forward gives the adversarial loss and (for e2SAD) the
second-step gradient.  See ``bench/`` for the pass counts and timings.

Three modules: :mod:`.core` (the registry, shared hyperparameters, pass counts and costs, and pieces),
:mod:`.paper` (the paper's defenses) and :mod:`.fast` (the fast adversarial training that followed
it).  Importing this package declares every defense in :data:`DEFENSES`.
"""

from .core import (
    ALPHA,
    DEFENSES,
    PASS_TIME_WEIGHTS,
    SECOND_STEP,
    SECOND_STEP_VARIANTS,
    Step,
    smooth_labels,
    step_flops,
    step_passes,
    step_time,
)
from .fast import fgsm_rs, fgsm_rs_point, pgd_at, pgd_point, trades, trades_kl
from .paper import e2sad_loss, fgsm_at, hamm_minimax, ifgsm_at, natural, second_step_grad


def get_defense(name: str):
    """(loss function, names of its hyperparameters) of the defense declared as ``name``."""
    decl = DEFENSES.get_decl(name, "defense")
    return decl.fn, tuple(decl.names())


__all__ = [
    "ALPHA",
    "DEFENSES",
    "PASS_TIME_WEIGHTS",
    "SECOND_STEP",
    "SECOND_STEP_VARIANTS",
    "Step",
    "e2sad_loss",
    "fgsm_at",
    "fgsm_rs",
    "fgsm_rs_point",
    "get_defense",
    "hamm_minimax",
    "ifgsm_at",
    "natural",
    "pgd_at",
    "pgd_point",
    "second_step_grad",
    "smooth_labels",
    "step_flops",
    "step_passes",
    "step_time",
    "trades",
    "trades_kl",
]
