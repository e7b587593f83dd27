"""Which of the CPU compute choices pay on this machine: each variant's passes, in one run.

    python bench/variants.py --threads 1 --batch-size 64 --reps 15
    python bench/variants.py --network wong2020_mnist --batch-size 100 --only nchw,bf16

The config's CPU choices were measured on one machine (a 2-core AVX2 EPYC, bench/README.md);
another CPU can rank them differently. This times, on Table A.1's CNN, the two passes the
study repeats most (``--network``: another of e2sad.models.NETWORKS, e.g. the verdict's
``wong2020_mnist``; ``plain_conv1`` only where the first convolution is FirstConv2d),

    F + B_in   an attack step (every IFGSM/PGD step, every evaluation)
    F + B_w    a parameter step (every training step)

for each variant, interleaved round-robin in one process (the order rotated every repetition),
and prints the median of each against the default's (the reduced study's settings):

    default        compute.channels_last: true, FirstConv2d's input gradient, fp32
    nchw           compute.channels_last: false
    plain_conv1    conv1's input gradient by oneDNN (FirstConv2d.fast_input_grad = False)
    bf16           compute.precision: bf16 (autocast; fast only where oneDNN has bf16 kernels:
                   AVX512-BF16 or AMX)

A ratio below 1 means the variant is faster here; "grad_x diff" is the largest difference of the
variant's input gradient from the default's, relative to its largest entry (float rounding for
the fp32 variants, bf16's for bf16). Clock: process CPU time (idle or shared box,
1 thread), or --clock wall.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import batch, machine, med, setup, spread, table  # noqa: E402

from e2sad.attacks import loss_fn  # noqa: E402
from e2sad.models import NETWORKS, build_model  # noqa: E402
from e2sad.runtime import keep_freed_memory  # noqa: E402

VARIANTS = {
    "default": dict(channels_last=True, fast_conv1=True, bf16=False),
    "nchw": dict(channels_last=False, fast_conv1=True, bf16=False),
    "plain_conv1": dict(channels_last=True, fast_conv1=False, bf16=False),
    "bf16": dict(channels_last=True, fast_conv1=True, bf16=True),
}


def make(v: dict, x: torch.Tensor, network: str):
    """The variant's model, precision context and input (in the model's memory order)."""
    torch.manual_seed(0)
    model = build_model(network, channels_last=v["channels_last"]).to(x.device).train()
    if hasattr(model.features[0], "fast_input_grad"):
        model.features[0].fast_input_grad = v["fast_conv1"]
    elif not v["fast_conv1"]:
        raise SystemExit(f"variants.py: {network}'s first convolution is not FirstConv2d: plain_conv1 is its default")
    ctx = (
        (lambda: torch.autocast(device_type=x.device.type, dtype=torch.bfloat16))
        if v["bf16"]
        else contextlib.nullcontext
    )
    return model, ctx, x.contiguous(memory_format=torch.channels_last) if v["channels_last"] else x


def f_b_in(model, ctx, x, y):
    x = x.detach().requires_grad_(True)
    with ctx():
        loss = loss_fn(model(x), y)
    return torch.autograd.grad(loss, x)[0]


def f_b_w(model, ctx, x, y):
    params = list(model.parameters())
    with ctx():
        loss = loss_fn(model(x), y)
    return torch.autograd.grad(loss, params)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--network", choices=list(NETWORKS), default="cnn_a1")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    ap.add_argument("--only", default=",".join(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)}")
    a = ap.parse_args()
    dev = setup("cpu", a.threads)
    keep_freed_memory()  # as every `python -m e2sad` job does
    clock = time.process_time if a.clock == "cpu" else time.perf_counter
    names = ["default", *[n for n in a.only.split(",") if n != "default"]]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"variants.py: unknown variant {', '.join(unknown)}; allowed: {', '.join(VARIANTS)}")
    x, y = batch(a.batch_size, dev)
    built = {n: make(VARIANTS[n], x, a.network) for n in names}
    passes = {"F + B_in": f_b_in, "F + B_w": f_b_w}
    T = {(n, p): [] for n in names for p in passes}
    for r in range(a.warmup + a.reps):
        order = names[r % len(names) :] + names[: r % len(names)]
        for n in order:
            for p, fn in passes.items():
                t0 = clock()
                fn(*built[n], y)
                if r >= a.warmup:
                    T[(n, p)].append(clock() - t0)
    print(machine(dev))
    print(f"{a.network}, batch {a.batch_size}, {a.reps} interleaved repetitions, {a.clock} clock, medians\n")
    # the same math: each variant's input gradient against the default's (relative max difference)
    ref = f_b_in(*built["default"], y)
    rows = []
    for n in names:
        g = f_b_in(*built[n], y)
        diff = ((g - ref).abs().max() / ref.abs().max()).item()
        row = [n, f"{diff:.1e}"]
        for p in passes:
            t, base = med(T[(n, p)]), med(T[("default", p)])
            row += [f"{1e3 * t:.1f}", spread(T[(n, p)]), f"{t / base:.3f}"]
        rows.append(row)
    head = ["variant", "grad_x diff"] + [h for p in passes for h in (f"{p} ms", "IQR", "/ default")]
    print(table(rows, head))


if __name__ == "__main__":
    main()
