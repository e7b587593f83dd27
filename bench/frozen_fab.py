"""The reference AutoAttack's FAB-T on a model with frozen parameters (what :func:`e2sad.modelfile.load_model`
gives) against the same weights unfrozen: FAB-T calls ``backward()``, which computes every weight's
gradient when the parameters take one. Alternating repetitions in one run, one thread; prints the
median seconds of each, their ratio, and whether the adversarial examples are identical.

    python bench/frozen_fab.py --model results/verdict/models/mnist_fgsm_rs_H__equal_cost/seed0/model.pt \
        --data results/verdict/data/mnist.pt --network wong2020_mnist --n 100 --reps 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from pyautoattack import AutoAttack

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

from e2sad.data import load_prepared  # noqa: E402
from e2sad.evaluate import evaluation_images  # noqa: E402
from e2sad.modelfile import load_model  # noqa: E402


def fab_t(model, x, y, eps: float) -> tuple[torch.Tensor, float]:
    aa = AutoAttack(model, norm="Linf", eps=eps, version="custom", attacks=["fab-t"], seed=0, device="cpu")
    aa.verbose = False
    aa.fab.n_target_classes = 9
    t = time.perf_counter()
    out = aa.run_standard_evaluation(x, y, batch_size=x.shape[0])
    return (out[0] if isinstance(out, tuple) else out), time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--network", default="wong2020_mnist")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--eps", type=float, default=0.3)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    x, y = evaluation_images(load_prepared(a.data, "cpu", splits=("test",)), a.n, 0)
    frozen = load_model(a.model, a.network, "none", tuple(x.shape[1:]))
    plain = load_model(a.model, a.network, "none", tuple(x.shape[1:])).requires_grad_(True)
    secs, outs = {"plain": [], "frozen": []}, {}
    for r in range(a.reps):
        for name in ("plain", "frozen") if r % 2 == 0 else ("frozen", "plain"):
            outs[name], s = fab_t(frozen if name == "frozen" else plain, x, y, a.eps)
            secs[name].append(s)
    p, f = statistics.median(secs["plain"]), statistics.median(secs["frozen"])
    print(f"{machine(torch.device('cpu'))}; FAB-T (9 targets, 100 iterations) on {a.n} test images,")
    print(f"{a.reps} alternating repetitions")
    print(f"plain {p:.2f} s, frozen {f:.2f} s (medians); plain / frozen = {p / f:.2f}")
    print("adversarial examples identical" if torch.equal(outs["plain"], outs["frozen"]) else "EXAMPLES DIFFER")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
