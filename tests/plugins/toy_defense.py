"""A test-only defense: what adding a defense takes (one function and its declaration).

Loaded by ``E2SAD_PLUGINS=toy_defense`` with this folder on ``PYTHONPATH``; the
same lines in ``e2sad/defenses/`` would make it part of the library.
"""

from e2sad.attacks import EPS, fgsm, loss_fn
from e2sad.declare import Param
from e2sad.defenses import ALPHA, DEFENSES, Step

GAMMA = Param("gamma", float, "toy: weight of the adversarial loss (a new hyperparameter)", lo=0, hi=2)


@DEFENSES.declare("toy_at", params=(ALPHA, EPS, GAMMA), paper="test only: alpha J(x) + gamma J(x_fgsm)")
def toy_at(model, x, y, *, alpha: float, eps: float, gamma: float, **_):
    """alpha J(x) + gamma J(x_fgsm)."""
    loss_clean = loss_fn(model(x), y)
    loss_adv = loss_fn(model(fgsm(model, x, y, eps=eps)), y)
    return Step(alpha * loss_clean + gamma * loss_adv, {"clean": loss_clean.detach(), "adv": loss_adv.detach()})
