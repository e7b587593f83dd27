"""White-box attacks under the l-infinity threat model, in [0, 1] pixel space: the paper's
(:mod:`.core`: FGSM, IFGSM, PGD, the registry and the primitives the defenses share) and Croce &
Hein 2020's (:mod:`.croce_hein`: APGD-CE, APGD-T, AutoAttack).  Importing this package declares
every attack in :data:`ATTACKS`; the names below are its interface."""

from .core import (
    ATTACKS,
    EPS,
    STEP,
    K,
    eps_box,
    fgsm,
    get_attack,
    ifgsm,
    input_grad,
    iterative_kinds,
    loss_fn,
    pgd,
    project,
    run_attack,
    single_step_kinds,
)
from .croce_hein import AA_CHECKS, apgd_ce, apgd_t, autoattack, autoattack_ta

__all__ = [
    "AA_CHECKS",
    "ATTACKS",
    "EPS",
    "K",
    "STEP",
    "apgd_ce",
    "apgd_t",
    "autoattack",
    "autoattack_ta",
    "eps_box",
    "fgsm",
    "get_attack",
    "ifgsm",
    "input_grad",
    "iterative_kinds",
    "loss_fn",
    "pgd",
    "project",
    "run_attack",
    "single_step_kinds",
]
