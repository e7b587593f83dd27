"""Learning-rate schedules over a run (``training.<dataset>.schedule``): the declaration of each
schedule is its branch of :func:`lr_at`, so the list of allowed names lives here, beside it."""

from __future__ import annotations

from .errors import ConfigError

#: learning-rate schedules over the run (``training.<dataset>.schedule``); see :func:`lr_at`
SCHEDULES = ("constant", "cyclic", "piecewise", "trades")


def lr_at(step: int, steps: int, lr: float, schedule: str = "constant") -> float:
    """The learning rate of step ``step`` (0-based) of ``steps``.

    - ``constant``: ``lr`` throughout (the paper: "AdamOptimizer with learning rate 0.001").
    - ``cyclic``: linear from 0 up to ``lr`` at 2/5 of training, then linearly down to 0 (Wong,
      Rice, Kolter 2020, FGSM-RS's one-cycle schedule; their MNIST peak is 5e-3).
    - ``piecewise``: ``lr``, divided by 10 at 1/2 and again at 3/4 of training (Madry et al. /
      Rice et al. 2020).
    - ``trades``: TRADES' MNIST schedule (Zhang et al. 2019, ``train_trades_mnist.py``
      ``adjust_learning_rate``: x0.1 from epoch 55, x0.01 from 75, x0.001 from 90 of 100), as
      fractions of the run.
    """
    if schedule == "constant":
        return lr
    t = step / max(steps, 1)
    if schedule == "cyclic":
        return lr * (t / 0.4 if t <= 0.4 else max(0.0, (1 - t) / 0.6))
    if schedule == "piecewise":
        return lr * (1.0 if t < 0.5 else 0.1 if t < 0.75 else 0.01)
    if schedule == "trades":
        return lr * (1.0 if t < 0.55 else 0.1 if t < 0.75 else 0.01 if t < 0.9 else 0.001)
    raise ConfigError(f"schedule {schedule!r} is not allowed; allowed: {', '.join(SCHEDULES)}")
