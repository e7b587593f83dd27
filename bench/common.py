"""Helpers shared by the bench scripts: clock, medians, batch, machine line, table printing."""

from __future__ import annotations

import statistics
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from e2sad.provenance import cpu_record
from e2sad.runtime import resolve_device


def setup(device: str, threads: int | None, seed: int = 0) -> torch.device:
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    return resolve_device(device)


def make_clock(dev: torch.device, kind: str = "wall"):
    """A clock in seconds.

    ``wall``: perf_counter, after waiting for the device (CUDA kernels are asynchronous).
    ``cpu``: CPU seconds of this process (time.process_time), for CPU runs with one
    thread on a shared machine: other processes' load does not count in it, while the
    wall clock of a 1-thread process stretches with the machine's load.
    ``flops``: floating-point operations of matmuls and convolutions (forward and
    backward) counted by torch.utils.flop_counter; no noise, checks pass structure.
    """
    if kind == "flops":
        counter = _FlopCount()
        counter.__enter__()  # counts every matmul/convolution (incl. backward) from here on
        return lambda: float(counter.total)
    if kind == "cpu":
        if dev.type != "cpu":
            raise SystemExit("--clock cpu is for CPU runs")
        return time.process_time
    if dev.type == "cuda":

        def clock() -> float:
            torch.cuda.synchronize(dev)
            return time.perf_counter()

        return clock
    return time.perf_counter


class _FlopCount(TorchDispatchMode):
    """FLOPs of the ops torch.utils.flop_counter knows (matmul, convolution and their backward).

    Not FlopCounterMode itself: its module hooks refuse autograd.grad w.r.t. a leaf input."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out


def batch(batch_size: int, dev: torch.device, data: str | None = None, seed: int = 0):
    """The first ``batch_size`` training images of a prepared MNIST file, else uniform noise in [0, 1]."""
    if data:
        from e2sad.data import load_prepared

        d = load_prepared(data, dev)
        return d["x_train"][:batch_size].contiguous(), d["y_train"][:batch_size].contiguous()
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch_size, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (batch_size,), generator=g)
    return x.to(dev), y.to(dev)


def med(v: list[float]) -> float:
    return statistics.median(v) if v else float("nan")


def spread(v: list[float]) -> str:
    """Interquartile range relative to the median, as a percentage (a noise indicator)."""
    if len(v) < 4:
        return "-"
    q = statistics.quantiles(v, n=4)
    return f"{100 * (q[2] - q[0]) / statistics.median(v):.0f}%"


def machine(dev: torch.device) -> str:
    """The device, torch, threads and CPU kernel level (the same record as every job's sidecar)."""
    cpu = cpu_record()
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU {cpu['model']}"
    cap = cpu.get("capability", "?")
    return f"{where}; torch {torch.__version__}; {torch.get_num_threads()} threads; cpu capability {cap}"


def table(rows: list[list], header: list[str]) -> str:
    cells = [[str(c) for c in r] for r in [header, *rows]]
    w = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r)) for r in cells]
    lines.insert(1, "  ".join("-" * x for x in w))
    return "\n".join(lines)


PEAK = {"peak_sgemm": "sgemm 2048^3", "peak_conv_fwd": "conv2 forward", "peak_conv_bwd": "conv2 backward (in + w)"}


def time_peak(model, x, clock, T) -> None:
    """The machine's attainable peak, in the same repetition as the passes: a 2048^3 sgemm, and
    the model's largest convolution (the second, 32 -> 64 channels, 5x5, on the batch's 14x14
    maps) forward and backward (input and weight gradients), in the model's memory format."""
    a = torch.rand(2048, 2048, device=x.device)
    t0 = clock()
    torch.mm(a, a)
    T["peak_sgemm"].append(clock() - t0)
    conv = model.features[3]
    fmt = torch.channels_last if conv.weight.is_contiguous(memory_format=torch.channels_last) else None
    h = torch.rand(x.shape[0], conv.in_channels, 14, 14, device=x.device)
    h = (h.contiguous(memory_format=fmt) if fmt else h).requires_grad_(True)
    t0 = clock()
    out = conv(h)
    t1 = clock()
    torch.autograd.grad(out, [h, conv.weight], out)
    T["peak_conv_fwd"].append(t1 - t0)
    T["peak_conv_bwd"].append(clock() - t1)
