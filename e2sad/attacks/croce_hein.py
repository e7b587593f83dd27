"""Croce & Hein 2020's attacks: APGD-CE and APGD-T, and AutoAttack as the reference evaluation
(their own implementation, pyautoattack) and as composed from torchattacks (a cross-check).  Each
is declared in :data:`e2sad.attacks.core.ATTACKS` like the paper's attacks."""

from __future__ import annotations

import logging
import sys

from ..declare import Param
from .core import APGD_STEPS, ATTACK_SEED, ATTACKS, EPS, RESTARTS, targeted_classes


def _apgd_passes(p: dict, targets: int) -> dict:
    """APGD's passes: ``steps`` forwards and input backwards per restart and target."""
    n = targets * p.get("steps", APGD_STEPS.default) * p.get("restarts", RESTARTS.default)
    return {"F": n, "B_in": n}


@ATTACKS.declare(
    "apgd_ce",
    iterative=True,
    params=(EPS, APGD_STEPS, RESTARTS, ATTACK_SEED),
    paper="Croce & Hein 2020, APGD-CE",
    passes=lambda p, classes: _apgd_passes(p, 1),
)
def apgd_ce(model, x, y, *, eps: float, steps: int = 100, restarts: int = 1, seed: int = 0, **_):
    """APGD-CE of AutoAttack (Croce & Hein 2020), via torchattacks.APGD."""
    import torchattacks

    atk = torchattacks.APGD(model, norm="Linf", eps=eps, steps=steps, n_restarts=restarts, loss="ce", seed=seed)
    return atk(x, y).detach()


@ATTACKS.declare(
    "apgd_t",
    iterative=True,
    params=(EPS, APGD_STEPS, RESTARTS, ATTACK_SEED),
    paper="Croce & Hein 2020, APGD-T",
    # every class but the true one is a target; a point that falls is not attacked again (an upper bound)
    passes=lambda p, classes: _apgd_passes(p, classes - 1),
)
def apgd_t(model, x, y, *, eps: float, steps: int = 100, restarts: int = 1, seed: int = 0, **_):
    """APGD-T (targeted DLR) of AutoAttack, via torchattacks.APGDT: every class but the true one is a
    target in turn (9 on 10-class data); the classes are the model's (:func:`n_classes`)."""
    import torchattacks

    classes = targeted_classes(model, x, "apgd_t")
    atk = torchattacks.APGDT(
        model, norm="Linf", eps=eps, steps=steps, n_restarts=restarts, n_classes=classes, seed=seed
    )
    return atk(x, y).detach()


AA_VERSION = Param(
    "version",
    str,
    "AutoAttack version: standard = APGD-CE, APGD-T, FAB-T, Square (Croce & Hein 2020)",
    "standard",
    choices=("standard",),
)
AA_STEPS = Param(
    "steps",
    int,
    "AutoAttack: iterations of APGD-CE, APGD-T and FAB-T (Croce & Hein 2020: 100, the standard version; "
    "fewer only to test the pipeline; torchattacks.AutoAttack leaves them at its default 10)",
    100,
    lo=1,
)
#: the most target classes of the standard AutoAttack's APGD-T and FAB-T (9: every class but the true one
#: on 10-class data); a model with fewer classes gets one target per class but the true one
AA_TARGETS = 9


def _aa_passes(p: dict, classes: int) -> dict:
    """An upper bound of AutoAttack's passes: APGD-CE steps, APGD-T and FAB-T steps for each of
    their targets (min(AA_TARGETS, classes - 1)), Square 5,000 queries; each attack runs only on
    the points still classified correctly."""
    steps, targets = p.get("steps", AA_STEPS.default), min(AA_TARGETS, classes - 1)
    return {"F": steps * (1 + 3 * targets) + 5000, "B_in": steps * (1 + 2 * targets)}


#: the checks of Croce & Hein's ``autoattack/checks.py``, each named after what it flags (their
#: flags_doc.md): the function that logs the warning -> the flag recorded on the evaluation's row
AA_CHECKS = {
    "check_zero_gradients": "zero_gradients",  # gradient masking: points whose input gradient is exactly 0
    "check_square_sr": "square_beats_gradient_attacks",  # gradient masking: black-box Square lowers the accuracy
    "check_randomized": "randomized",  # the outputs change between calls: use version 'rand'
    "check_range_output": "softmax_outputs",  # the outputs are a probability distribution, not logits
    "check_dynamic": "dynamic",  # the forward itself calls backward or grad
    "check_n_classes": "n_classes",  # more target classes than the model has
}


class _AutoAttackChecks(logging.Handler):
    """The warnings of the reference AutoAttack's checks (logger ``auto-attack``), as flags."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.flags, self.messages = {}, []

    def emit(self, record: logging.LogRecord) -> None:
        flag = AA_CHECKS.get(record.funcName, record.funcName)
        self.flags[flag] = True
        if record.getMessage() not in self.messages:
            self.messages.append(record.getMessage())


class _AutoAttackProgress(logging.Handler):
    """The reference AutoAttack's own progress lines (``running apgd-ce``, ``robust accuracy after
    APGD-CE: 91.00% (total time 35.2 s)``), on stderr: a standard AutoAttack on 1,000 images of a
    robust model runs for many minutes, and its results are the same with or without them."""

    PREFIXES = ("running ", "initial accuracy", "robust accuracy after")

    def __init__(self):
        super().__init__(logging.DEBUG)

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if record.levelno >= logging.WARNING:  # its checks' messages (also recorded as flags)
            print(f"[autoattack] {record.levelname.lower()}: {msg}", file=sys.stderr, flush=True)
        elif msg.startswith(self.PREFIXES):
            print(f"[autoattack] {msg}", file=sys.stderr, flush=True)


def _set_iterations(aa, steps: int) -> None:
    """APGD-CE's, APGD-T's and FAB-T's iterations of the reference AutoAttack ``aa`` set to ``steps``
    (the standard's 100 is left as built); APGD's step-size checkpoints are the ones its own
    constructor derives for ``steps``."""
    from pyautoattack.autopgd_base import APGDAttack

    schedule = APGDAttack(None, n_iter=steps, eps=aa.epsilon)
    for apgd in (aa.apgd, aa.apgd_targeted):
        for key in ("n_iter", "n_iter_orig", "n_iter_2", "n_iter_min", "size_decr"):
            setattr(apgd, key, getattr(schedule, key))
    aa.fab.n_iter = steps


@ATTACKS.declare(
    "autoattack",
    params=(EPS, AA_VERSION, AA_STEPS, ATTACK_SEED),
    paper="Croce & Hein 2020, standard AutoAttack: their own implementation (pyautoattack, fra31/auto-attack)",
    passes=_aa_passes,
    notes=True,
)
def autoattack(
    model,
    x,
    y,
    *,
    eps: float,
    version: str = AA_VERSION.default,
    steps: int = AA_STEPS.default,
    seed: int = ATTACK_SEED.default,
    notes: dict | None = None,
    **_,
):
    """The standard AutoAttack (Croce & Hein 2020, l-infinity), the reference implementation
    (``pyautoattack``, their fra31/auto-attack on PyPI): APGD-CE, APGD-T and FAB-T with 9 target
    classes (fewer on a model of fewer classes: every class but the true one) and ``steps``
    iterations (the standard 100), then Square with 5,000 queries, each on the points the earlier
    ones left correct: the per-example worst case over all four.

    ``notes``: a dict that receives the flags of its checks (``checks.py``; :data:`AA_CHECKS`) as
    ``aa_flags`` {flag: bool} and their messages as ``aa_messages``, merged over the calls of one
    evaluation (:func:`run_attack` calls it once per batch).  :func:`autoattack_ta` is torchattacks'
    composition of the same four, kept as a cross-check.
    """
    from pyautoattack import AutoAttack

    AA_VERSION.check(version, "autoattack version")
    targets = min(AA_TARGETS, targeted_classes(model, x, "autoattack") - 1)
    aa = AutoAttack(model, norm="Linf", eps=eps, version=version, seed=seed, device=x.device)
    aa.verbose = True  # its progress lines (logging only: the attacks do not read it)
    aa.apgd_targeted.n_target_classes = aa.fab.n_target_classes = targets
    if steps != AA_STEPS.default:
        _set_iterations(aa, steps)
    checks = _AutoAttackChecks()
    handlers, level = (checks, _AutoAttackProgress()), aa.logger.level
    aa.logger.setLevel(logging.DEBUG)
    aa.logger.propagate, propagate = False, aa.logger.propagate  # its debug lines stay out of the root logger
    for h in handlers:
        aa.logger.addHandler(h)
    try:
        x_adv, _ = aa.run_standard_evaluation(x, y, batch_size=x.shape[0])
    finally:
        for h in handlers:
            aa.logger.removeHandler(h)
        aa.logger.setLevel(level)
        aa.logger.propagate = propagate
    if notes is not None:
        flags = notes.setdefault("aa_flags", dict.fromkeys(AA_CHECKS.values(), False))
        flags.update(checks.flags)
        messages = notes.setdefault("aa_messages", [])
        messages += [m for m in checks.messages if m not in messages]
    return x_adv.detach()


@ATTACKS.declare(
    "autoattack_ta",
    params=(EPS, AA_VERSION, AA_STEPS, ATTACK_SEED),
    paper="Croce & Hein 2020, standard AutoAttack composed from torchattacks' APGD, APGDT, FAB, Square (a cross-check)",
    passes=_aa_passes,
)
def autoattack_ta(
    model,
    x,
    y,
    *,
    eps: float,
    version: str = AA_VERSION.default,
    steps: int = AA_STEPS.default,
    seed: int = ATTACK_SEED.default,
    **_,
):
    """The standard AutoAttack (Croce & Hein 2020, l-infinity) composed from torchattacks, the
    cross-check of the reference :func:`autoattack`: APGD-CE, APGD-T and FAB-T (every class but the
    true one a target: 9 on 10-class data; the model's classes) with ``steps`` iterations each and
    Square with 5,000 queries, one restart each, run one after the other on the points the earlier
    ones left correct (torchattacks' MultiAttack), so the result is the per-example worst case over
    all four.

    Built from torchattacks' attacks rather than ``torchattacks.AutoAttack``, which constructs
    them with its defaults of 10 iterations instead of the paper's 100
    (Harry24k/adversarial-attacks-pytorch#196); with ``steps=10`` the two are the same attack.
    """
    import torchattacks

    AA_VERSION.check(version, "autoattack_ta version")
    classes = targeted_classes(model, x, "autoattack_ta")
    common = dict(norm="Linf", eps=eps, seed=seed, n_restarts=1)
    atk = torchattacks.MultiAttack(
        [
            torchattacks.APGD(model, loss="ce", steps=steps, **common),
            torchattacks.APGDT(model, n_classes=classes, steps=steps, **common),
            torchattacks.FAB(model, multi_targeted=True, n_classes=classes, steps=steps, **common),
            torchattacks.Square(model, n_queries=5000, **common),
        ]
    )
    return atk(x, y).detach()
