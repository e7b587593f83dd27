"""Where a pass's time goes, op by op, against the peak measured in the same run.

    python bench/ops.py --threads 1 --batch-size 64 --channels-last --reps 10

Times, op by op, the two passes the CPU study repeats most, on Table A.1's CNN:

    F + B_in   the attack step: autograd.grad(J, x) (every IFGSM/PGD step, every evaluation)
    F + B_w    the parameter step: J.backward(inputs=params) (every training step)

and prints, for each aten op of a pass and the shapes of its tensor arguments (so conv1 and
conv2 are separate rows): calls, ms per pass, share of the pass, GFLOP (the formulas of
torch.utils.flop_counter, exact), achieved GFLOP/s and its fraction of the peak (the best of
bench/common.py's 2048^3 sgemm and conv2 forward and backward, timed in the same repetitions).
Each op is timed around its own call by a dispatch mode (not torch.profiler, whose per-op
overhead, ~8 ms in a 63 ms pass here, lands in the small ops' self times); the pass's own time is
the mean of plain runs interleaved with the timed ones, and what it spends outside ops is autograd and Python (slightly
negative when the ops ran slower timed one by one than in the plain pass).  The
summary of each pass says how far it can go with these kernels: its fraction of the peak if
everything but the ops with FLOPs (pooling, ReLU, fills, copies, the loss, Python) took no time.  The
process keeps freed memory in its heap as every ``python -m e2sad`` job does
(e2sad.runtime.keep_freed_memory), so the fills and page faults are the jobs' own.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path
from statistics import mean

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PEAK, _FlopCount, batch, machine, med, setup, table, time_peak  # noqa: E402

from e2sad.attacks import loss_fn  # noqa: E402
from e2sad.models import TableA1CNN  # noqa: E402
from e2sad.runtime import keep_freed_memory  # noqa: E402


def _key(name: str, args) -> tuple[str, str]:
    """(op, the shapes of its first three tensor arguments): conv1 and conv2 are separate rows."""
    shapes = ["x".join(map(str, a.shape)) for a in args if isinstance(a, torch.Tensor)][:3]
    return name, " ".join(shapes) or "-"


class _OpTimer(TorchDispatchMode):
    """Seconds, calls and FLOPs per (op, shapes of its tensor arguments), for every aten op a pass runs (the
    backward's too).  Each op is timed around its own call only, so the mode's Python work is
    outside the op's time; what the pass spends outside ops (autograd, Python) is the rest."""

    def __init__(self):
        super().__init__()
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.flops: dict[tuple[str, str], float] = defaultdict(float)
        self.calls: dict[tuple[str, str], int] = defaultdict(int)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        t0 = time.perf_counter()
        out = func(*args, **kwargs)
        dt = time.perf_counter() - t0
        key = _key(func._overloadpacket.__name__, args)
        self.seconds[key] += dt
        self.calls[key] += 1
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.flops[key] += count(*args, **kwargs, out_val=out)
        return out


def attack_pass(model, params, x, y):
    """F + B_in: J at x and its input gradient only (no parameter gradients)."""
    xx = x.detach().requires_grad_(True)
    torch.autograd.grad(loss_fn(model(xx), y), xx)


def param_pass(model, params, x, y):
    """F + B_w: J at x and its parameter gradients only."""
    loss_fn(model(x), y).backward(inputs=params)
    for p in params:
        p.grad = None


PASSES = {"F + B_in (attack step)": attack_pass, "F + B_w (parameter step)": param_pass}


def report(label: str, seconds: dict, flops: dict, calls: dict, plain_s: float, peak: float, min_share: float):
    """One pass's table: its ops by time, then the pass against the peak and its ceiling."""
    rows, other, other_n = [], 0.0, 0
    for key in sorted(seconds, key=seconds.get, reverse=True):
        t, fl = seconds[key], flops.get(key, 0.0)
        if not fl and t < min_share * plain_s:
            other, other_n = other + t, other_n + 1
            continue
        rate = [f"{fl * 1e-9:.3f}", f"{fl / t * 1e-9:.1f}", f"{fl / t / peak:.0%}"] if fl else ["-", "-", "-"]
        rows.append([key[0], key[1], calls.get(key, 0), f"{t * 1e3:.2f}", f"{t / plain_s:.1%}", *rate])
    outside = plain_s - sum(seconds.values())
    for name, t in ((f"{other_n} more ops without FLOPs", other), ("outside ops (autograd, Python)", outside)):
        rows.append([name, "", "", f"{t * 1e3:.2f}", f"{t / plain_s:.1%}", "", "", ""])
    fl_all = sum(flops.values())
    t_fl = sum(t for k, t in seconds.items() if flops.get(k))
    print(f"\n{label}: {fl_all * 1e-9:.3f} GFLOP in {plain_s * 1e3:.1f} ms (mean of the plain runs)")
    print(table(rows, ["op", "tensor arguments", "calls", "ms", "of pass", "GFLOP", "GFLOP/s", "of peak"]))
    print(
        f"  the pass: {fl_all / plain_s * 1e-9:.1f} GFLOP/s = {fl_all / plain_s / peak:.0%} of the peak; its ops with "
        f"FLOPs: {t_fl * 1e3:.1f} ms at {fl_all / t_fl / peak:.0%} of the peak; the rest: "
        f"{(plain_s - t_fl) * 1e3:.1f} ms"
    )
    print(f"  ceiling with these kernels (everything but the ops with FLOPs at zero time): {fl_all / t_fl / peak:.0%}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--reps", type=int, default=10, help="repetitions: each pass once plain, once op by op")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--channels-last", action="store_true", help="model in channels_last (compute.channels_last)")
    ap.add_argument("--min-share", type=float, default=0.01, help="ops without FLOPs below this share are summed")
    a = ap.parse_args(argv)

    keep_freed_memory()
    dev = setup("cpu", a.threads)
    model = TableA1CNN().to(dev)
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
    params = list(model.parameters())
    x, y = batch(a.batch_size, dev)
    print(f"# {machine(dev)}; batch {a.batch_size}; channels_last {a.channels_last}; reps {a.reps} (+{a.warmup})")

    T: dict[str, list[float]] = {k: [] for k in [*PEAK, *PASSES]}
    ops = {label: _OpTimer() for label in PASSES}
    for rep in range(a.warmup + a.reps):  # in each repetition: the peak ops, then each pass plain and op by op
        timed = rep >= a.warmup
        time_peak(model, x, time.perf_counter, T if timed else defaultdict(list))
        for label, fn in PASSES.items():
            t0 = time.perf_counter()
            fn(model, params, x, y)
            if timed:
                T[label].append(time.perf_counter() - t0)
                with ops[label]:
                    fn(model, params, x, y)
    with _FlopCount() as c:
        work: dict[str, list[float]] = {k: [] for k in PEAK}
        time_peak(model, x, lambda: float(c.total), work)
    rate = {k: work[k][0] / med(T[k]) for k in PEAK}
    peak = max(rate.values())
    print(f"\nPeak, this run: {peak * 1e-9:.1f} GFLOP/s, the best of")
    rows = [[PEAK[k], f"{work[k][0] * 1e-9:.2f}", f"{rate[k] * 1e-9:.1f}"] for k in PEAK]
    print(table(rows, ["op", "GFLOP", "GFLOP/s"]))
    for label, c in ops.items():
        per = [{k: v / a.reps for k, v in d.items()} for d in (c.seconds, c.flops)]
        report(label, *per, {k: v // a.reps for k, v in c.calls.items()}, mean(T[label]), peak, a.min_share)


if __name__ == "__main__":
    main()
