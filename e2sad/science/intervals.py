"""Accuracies with their uncertainty: a 95 % interval over the test images and the seeds.

An accuracy of the study is measured on the same ``n`` test images for each of ``k`` seeds.  Two
sources of error make its interval:

- the **seeds** (training is random): the spread of the ``k`` per-seed accuracies, ``s``, gives the
  standard error ``s / sqrt(k)`` of their mean, taken with Student's t at ``k - 1`` degrees of
  freedom (none with one seed: then the seed term is unknown and left out, and the record says so);
- the **test images** (a sample of the distribution): all seeds share them, so averaging over seeds
  does not shrink this part; it is the Wilson score interval of the mean accuracy over ``n``
  images (Wilson 1927; Brown, Cai and DasGupta 2001 recommend it over the normal approximation,
  which fails near 0 and 1, where robust accuracies often are).

The two are independent and add in quadrature on each side of the mean (the Wilson interval is
not symmetric).  A difference of two defenses is **paired by seed** (:func:`paired_difference`: a
seed shares the initialisation and the batch order across defenses): its seed term is the spread
of the per-seed differences; its image term adds both Wilson terms in quadrature (conservative,
since the shared images make the image term of a difference smaller).  Intervals are kept as
computed (an accuracy's may reach below 0 or above 1); they are clipped to [0, 1] only where they
are shown (:meth:`Estimate.__str__`, the tables).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

#: the confidence level of every interval of the study
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """An accuracy (or a difference of two) with its interval, its test-set size and its seeds."""

    value: float
    lo: float
    hi: float
    n: int
    seeds: tuple[int, ...]

    @property
    def interval(self) -> tuple[float, float]:
        return (self.lo, self.hi)

    @property
    def shown(self) -> tuple[float, float]:
        """The interval as shown: an accuracy's clipped to [0, 1]."""
        return (max(0.0, self.lo), min(1.0, self.hi))

    def __str__(self) -> str:
        """0.812 [0.781, 0.840] (n = 1,000, 3 seeds); the interval clipped to [0, 1] for display."""
        k = len(self.seeds)
        lo, hi = self.shown
        return f"{self.value:.3f} [{lo:.3f}, {hi:.3f}] (n = {self.n:,}, {k} seed{'s' if k != 1 else ''})"


def _z(level: float = LEVEL) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


def wilson(p: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``p`` observed on ``n`` trials."""
    if n < 1:
        raise ValueError(f"n = {n}: an accuracy needs at least one test image")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p = {p}: an accuracy lies in [0, 1]")
    z = _z(level)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def seed_half_width(values, level: float = LEVEL) -> float:
    """Student-t half-width of the mean of per-seed values (0 with one seed: unknown, see module doc)."""
    k = len(values)
    if k < 2:
        return 0.0
    mean = sum(values) / k
    s = math.sqrt(sum((v - mean) ** 2 for v in values) / (k - 1))
    return float(stats.t.ppf(0.5 + level / 2, k - 1)) * s / math.sqrt(k)


def accuracy(per_seed: dict[int, float], n: int, level: float = LEVEL) -> Estimate:
    """The mean accuracy over seeds with its interval: ``per_seed`` maps each seed to its accuracy
    on the same first ``n`` test images."""
    if not per_seed:
        raise ValueError("no seed: an accuracy needs at least one measured seed")
    values = list(per_seed.values())
    p = sum(values) / len(values)
    w_lo, w_hi = wilson(p, n, level)
    h = seed_half_width(values, level)
    lo = p - math.hypot(p - w_lo, h)
    hi = p + math.hypot(w_hi - p, h)
    return Estimate(p, lo, hi, n, tuple(sorted(per_seed)))


def difference(a: Estimate, b: Estimate) -> Estimate:
    """``a - b`` with both intervals' half-widths added in quadrature on each side."""
    d = a.value - b.value
    lo = d - math.hypot(a.value - a.lo, b.hi - b.value)
    hi = d + math.hypot(a.hi - a.value, b.value - b.lo)
    return Estimate(d, lo, hi, min(a.n, b.n), tuple(sorted(set(a.seeds) & set(b.seeds))))


def paired_difference(a: dict[int, float], b: dict[int, float], n: int, level: float = LEVEL) -> Estimate:
    """``a - b`` paired by seed: the mean over the seeds both have of the per-seed differences, with
    the Student-t half-width of their spread (the seed term) and both accuracies' Wilson terms in
    quadrature (the image term, conservative); unclipped.  ``a``, ``b``: seed -> accuracy on the
    same ``n`` test images."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError("no seed in common: a paired difference needs the same seeds on both sides")
    pa, pb = sum(a[s] for s in seeds) / len(seeds), sum(b[s] for s in seeds) / len(seeds)
    (a_lo, a_hi), (b_lo, b_hi) = wilson(pa, n, level), wilson(pb, n, level)
    h = seed_half_width([a[s] - b[s] for s in seeds], level)
    d = pa - pb
    lo = d - math.sqrt((pa - a_lo) ** 2 + (b_hi - pb) ** 2 + h * h)
    hi = d + math.sqrt((a_hi - pa) ** 2 + (pb - b_lo) ** 2 + h * h)
    return Estimate(d, lo, hi, n, tuple(seeds))
