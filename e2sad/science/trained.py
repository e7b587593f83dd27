"""Did a model train?  Decided per model and seed before any of its accuracies enters a statement.

A network stuck at chance answers (nearly) one class: its clean accuracy is the share of that
class on the evaluation images (on MNIST's first 1,000 test images 12.6 % for "1", 126 of them)
and its clean cross entropy J(theta, x, y) stays at ln(classes) (2.30 on 10 classes: PGD-AT at
eps 0.3 without a warm-up, issue 30).  Under an attack such a model keeps whatever the constant
answer scores, which is not robustness.  The check is two-sided on purpose:

- clean accuracy on the evaluation images above :data:`CLEAN_CHANCE_MULTIPLE` x chance (1 / classes);
- the final training loss (the clean term J(x) where the defense logs it, else its adversarial
  term, else the total) below ln(classes) x :data:`LOSS_CHANCE_FRACTION`.

A model that fails either did not train; every table, figure and statement of the frontier says so
and leaves its seed out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: clean accuracy a trained model must exceed, in multiples of chance (1 / classes): 0.2 on 10
#: classes, above any constant classifier on a balanced test set (MNIST's largest class is 11.4 %)
CLEAN_CHANCE_MULTIPLE = 2
#: the final training loss must be below this fraction of ln(classes) (the loss of a uniform
#: answer): 0.95 x 2.303 = 2.19 on 10 classes; a stuck run logs 2.30 from its first to its last step
LOSS_CHANCE_FRACTION = 0.95
#: the logged loss terms read for the check, in order of preference (J(theta, x, y) first)
LOSS_TERMS = ("clean", "adv", "loss")


@dataclass(frozen=True)
class Trained:
    """The decision for one model and seed, with the numbers it used and one sentence."""

    model: str
    seed: int
    trained: bool
    clean_accuracy: float | None
    final_loss: float | None
    why: str


def clean_floor(classes: int) -> float:
    """The clean accuracy a trained model must exceed: CLEAN_CHANCE_MULTIPLE / classes."""
    return CLEAN_CHANCE_MULTIPLE / classes


def loss_ceiling(classes: int) -> float:
    """The final training loss a trained model must stay below: LOSS_CHANCE_FRACTION x ln(classes)."""
    return LOSS_CHANCE_FRACTION * math.log(classes)


def final_loss(terms: dict) -> float | None:
    """The final training loss the check reads from a run's last logged terms (:data:`LOSS_TERMS`)."""
    for key in LOSS_TERMS:
        if terms.get(key) is not None:
            return float(terms[key])
    return None


def did_it_train(model: str, seed: int, clean_accuracy: float | None, loss: float | None, classes: int) -> Trained:
    """Trained when the clean accuracy is above :func:`clean_floor` and the final loss below
    :func:`loss_ceiling`; a number that is missing (no clean evaluation, no log) is not used, and
    with neither the model counts as trained (nothing says otherwise; the sentence says so)."""
    problems = []
    if clean_accuracy is not None and clean_accuracy <= clean_floor(classes):
        problems.append(
            f"clean accuracy {clean_accuracy:.3f} <= {clean_floor(classes):.3f} ({CLEAN_CHANCE_MULTIPLE} x chance)"
        )
    if loss is not None and not loss < loss_ceiling(classes):
        problems.append(f"final loss {loss:.3f} >= {loss_ceiling(classes):.3f} ({LOSS_CHANCE_FRACTION} ln {classes})")
    if problems:
        return Trained(model, seed, False, clean_accuracy, loss, "did not train: " + "; ".join(problems))
    if clean_accuracy is None and loss is None:
        return Trained(model, seed, True, None, None, "trained (unchecked: no clean evaluation and no training log)")
    return Trained(model, seed, True, clean_accuracy, loss, "trained")
