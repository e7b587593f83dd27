"""PGD with restarts that attack only the examples no earlier restart misclassified (this
engine's :func:`e2sad.attacks.core.pgd`) against the version of an earlier commit that attacks
every example in every restart. Same models, images and seeds, alternating, one thread; prints
per model which examples each leaves correctly classified (they must be the same), the robust
accuracy and the seconds of each, and their ratio.

    python bench/pgd_restarts.py --before 8be8b54 --data results/verdict/data/mnist.pt \
        --models results/verdict/models/mnist_natural_H/seed0/model.pt \
                 results/verdict/models/mnist_fgsm_rs_H__equal_cost/seed0/model.pt
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

import e2sad.attacks.core as now  # noqa: E402
from e2sad.data import load_prepared  # noqa: E402
from e2sad.evaluate import evaluation_images  # noqa: E402
from e2sad.modelfile import load_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def pgd_at(commit: str):
    """The ``pgd`` function of e2sad/attacks/core.py as it was at ``commit`` (its module
    executed in the package's namespace, so its relative imports resolve)."""
    src = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{commit}:e2sad/attacks/core.py"], check=True, capture_output=True, text=True
    ).stdout
    mod = types.ModuleType("e2sad.attacks._core_before")
    mod.__package__ = "e2sad.attacks"
    # it declares its attacks into a registry of its own (the module's ATTACKS)
    exec(compile(src, f"{commit}:e2sad/attacks/core.py", "exec"), mod.__dict__)
    return mod.pgd


def correct(model, x_adv, y, batch: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(x_adv[i : i + batch]).argmax(1) == y[i : i + batch] for i in range(0, len(y), batch)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="the commit whose pgd attacks every example in every restart")
    ap.add_argument("--data", required=True)
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--network", default="wong2020_mnist")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--step", type=float, default=0.01)
    ap.add_argument("--restarts", type=int, default=10)
    ap.add_argument("--eps", type=float, default=0.3)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    before = pgd_at(a.before)
    x, y = evaluation_images(load_prepared(a.data, "cpu", splits=("test",)), a.n, a.sample_seed)
    kw = dict(eps=a.eps, k=a.k, step=a.step, restarts=a.restarts, seed=0)
    print(f"{machine(torch.device('cpu'))}; PGD-{a.k} x {a.restarts} (step {a.step}) at eps {a.eps}, {a.n} test images")
    total = {"before": 0.0, "now": 0.0}
    same_all = True
    for i, path in enumerate(a.models):
        model = load_model(path, a.network, "none", tuple(x.shape[1:]))
        res = {}
        for name in ("before", "now") if i % 2 == 0 else ("now", "before"):
            fn = before if name == "before" else now.pgd
            t = time.perf_counter()
            out = torch.cat([fn(model, x[j : j + a.batch], y[j : j + a.batch], **kw) for j in range(0, a.n, a.batch)])
            res[name] = (correct(model, out, y, a.batch), time.perf_counter() - t)
            total[name] += res[name][1]
        same = torch.equal(res["before"][0], res["now"][0])
        same_all &= same
        cb, sb = res["before"]
        cn, sn = res["now"]
        print(
            f"{path}: robust {cb.float().mean():.4f} before, {cn.float().mean():.4f} now; "
            f"{'same examples correct' if same else 'CORRECT SETS DIFFER'}; {sb:.1f} s / {sn:.1f} s = {sb / sn:.2f}"
        )
    b, n = total["before"], total["now"]
    print(f"all models: {b:.1f} s before / {n:.1f} s now = {b / n:.2f}")
    return 0 if same_all else 1


if __name__ == "__main__":
    sys.exit(main())
