"""Attack throughput: e2sad.attacks FGSM / IFGSM-k against torchattacks FGSM / BIM(alpha=eps/k, steps=k).

Same model (the MNIST CNN of Table A.1, briefly trained with ``--train-steps``, or
as initialised), same batch, all attacks in one run; per repetition
and attack the two implementations run back to back (which goes first alternates;
FGSM timed over ``--fgsm-inner`` calls).  Prints images/s (medians), the cost ratio
torchattacks / e2sad (> 1: e2sad faster) from the medians and "paired" (median over
repetitions of the ratio of one back-to-back pair), how many pairs e2sad was at
least as fast, and max |x_adv(e2sad) - x_adv(torchattacks)|.

Example:  python bench/attacks.py --reps 7 --data /tmp/bench/mnist.pt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torchattacks

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import batch, machine, make_clock, med, setup, spread, table  # noqa: E402

from e2sad.attacks import fgsm, ifgsm, loss_fn  # noqa: E402
from e2sad.models import TableA1CNN  # noqa: E402


def quick_train(model, x, y, steps: int):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
    model.eval()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--clock",
        choices=["wall", "cpu", "flops"],
        default="wall",
        help="cpu: process CPU time (use with --threads 1); flops: matmul/conv FLOPs per attack",
    )
    ap.add_argument("--eps", type=float, default=0.3)
    ap.add_argument("--ks", default="10,30", help="IFGSM/BIM steps, comma separated")
    ap.add_argument("--fgsm-inner", type=int, default=5, help="FGSM calls per timed sample (FGSM is short)")
    ap.add_argument("--train-steps", type=int, default=30, help="Adam steps on the batch before attacking")
    ap.add_argument("--data", default=None, help="prepared MNIST .pt (default: uniform noise)")
    a = ap.parse_args(argv)

    dev = setup(a.device, a.threads)
    if a.clock == "flops":
        a.reps, a.warmup, a.fgsm_inner = 1, 0, 1
    clock = make_clock(dev, a.clock)
    x, y = batch(a.batch_size, dev, a.data)
    model = TableA1CNN().to(dev)
    quick_train(model, x, y, a.train_steps)
    ks = [int(k) for k in a.ks.split(",") if k]

    pairs = {"FGSM": (lambda: fgsm(model, x, y, eps=a.eps), torchattacks.FGSM(model, eps=a.eps))}
    for k in ks:
        pairs[f"IFGSM-{k}"] = (
            lambda k=k: ifgsm(model, x, y, eps=a.eps, k=k),
            torchattacks.BIM(model, eps=a.eps, alpha=a.eps / k, steps=k),
        )
    # Each repetition times, per attack, the two sides back to back (which goes first
    # alternates), so that a pair sees the same machine state: the paired ratio of one
    # repetition cancels slow drifts of the load, which single medians do not.
    sides = ("e2sad", "torchattacks")
    T = {(name, side): [] for name in pairs for side in sides}
    diff = {}
    print(f"# {machine(dev)}; clock {a.clock}; batch {a.batch_size}; eps {a.eps}; reps {a.reps} (+{a.warmup} warmup)")
    for rep in range(a.warmup + a.reps):
        order = sides if rep % 2 == 0 else sides[::-1]
        names = list(pairs)
        names = names[rep % len(names) :] + names[: rep % len(names)]
        for name in names:
            ours, theirs = pairs[name]
            inner = a.fgsm_inner if name == "FGSM" else 1
            outs = {}
            for side in order:
                t0 = clock()
                for _ in range(inner):
                    out = ours() if side == "e2sad" else theirs(x, y)
                dt = (clock() - t0) / inner
                outs[side] = out
                if rep >= a.warmup:
                    T[(name, side)].append(dt)
            d = float((outs["e2sad"] - outs["torchattacks"]).abs().max())
            diff[name] = max(diff.get(name, 0.0), d)
        print(f"# rep {rep + 1}/{a.warmup + a.reps} done", file=sys.stderr, flush=True)

    rows = []
    flops = a.clock == "flops"
    for name in pairs:
        te, tt = med(T[(name, "e2sad")]), med(T[(name, "torchattacks")])
        ratios = [b / c for b, c in zip(T[(name, "torchattacks")], T[(name, "e2sad")], strict=True)]
        wins = sum(r >= 1.0 for r in ratios)
        rows.append(
            [
                name,
                f"{te * 1e-9:.1f}" if flops else f"{a.batch_size / te:.0f}",
                f"{tt * 1e-9:.1f}" if flops else f"{a.batch_size / tt:.0f}",
                f"{tt / te:.3f}",
                f"{med(ratios):.3f}",
                f"{wins}/{len(ratios)}",
                f"{spread(T[(name, 'e2sad')])}/{spread(T[(name, 'torchattacks')])}",
                f"{diff[name]:.1e}",
            ]
        )
    what = "GFLOP" if flops else "img/s"
    print()
    print(
        table(
            rows,
            [
                "attack",
                f"e2sad {what}",
                f"torchattacks {what}",
                "ta/e2sad cost",
                "paired",
                "e2sad <= ta",
                "IQR e2/ta",
                "max|diff|",
            ],
        )
    )


if __name__ == "__main__":
    main()
