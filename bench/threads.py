"""Two trainings on a 2-core machine: two 1-thread processes at once, or one after the other with 2 threads?

Scenarios (each a fresh set of ``python -m e2sad train`` subprocesses, natural
defense, ``--steps`` steps each, seeds 0 and 1), interleaved round-robin over
``--rounds`` rounds (order rotated per round); medians of the wall time:

    A  2 x 1 thread, concurrent   two processes with --threads 1 started together
    B  2 threads, sequential      the two trainings one after the other, --threads 2 each
    C  one 2-thread process       both trainings in one process (e2sad.train.train twice,
                                  one interpreter start and data load), 2 threads

Also reported: the median training step of each scenario (from the per-step
log, so process start and data loading are left out) and the steady-state
ratio step_A / (2 step_B) (< 1: the concurrent 1-thread processes win).

Prepare the data first:
    python -m e2sad prepare-data --dataset mnist --src /work/shared/data/mnist --out /tmp/bench/mnist.pt
Example:  python bench/threads.py --rounds 3 --steps 40
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, med  # noqa: E402

ONE_PROCESS = """
import sys, torch
from e2sad.data import load_prepared
from e2sad.train import train
from e2sad.trainlog import write_log
torch.set_num_threads(2)
data_path, steps, batch, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
data = load_prepared(data_path, "cpu")
for seed in (0, 1):
    _, summary = train(data=data, dataset="mnist", defense="natural", hparams={}, steps=steps,
                       batch_size=batch, seed=seed, device="cpu", progress_every=0)
    write_log(f"{out}.{seed}.csv", summary["log_rows"])
"""


def train_cmd(a, seed: int, threads: int, out: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "e2sad",
        "train",
        "--dataset",
        "mnist",
        "--data",
        a.data,
        "--defense",
        "natural",
        "--steps",
        str(a.steps),
        "--batch-size",
        str(a.batch_size),
        "--device",
        "cpu",
        "--threads",
        str(threads),
        "--seed",
        str(seed),
        "--progress-every",
        "0",
        "--log-csv",
        f"{out}.{seed}.csv",
        "--out",
        f"{out}.{seed}.pt",
    ]


def step_times(out: str) -> list[float]:
    times = []
    for seed in (0, 1):
        with open(f"{out}.{seed}.csv") as fh:
            rows = list(csv.DictReader(fh))
        times += [float(r["step_s"]) for r in rows[1:]]  # the first step warms up
    return times


def run(a, scenario: str, out: str) -> float:
    t0 = time.perf_counter()
    if scenario == "A":
        procs = [subprocess.Popen(train_cmd(a, s, 1, out)) for s in (0, 1)]
        rcs = [p.wait() for p in procs]
    elif scenario == "B":
        rcs = [subprocess.run(train_cmd(a, s, 2, out), check=False).returncode for s in (0, 1)]
    else:
        cmd = [sys.executable, "-c", ONE_PROCESS, a.data, str(a.steps), str(a.batch_size), out]
        rcs = [subprocess.run(cmd, check=False).returncode]
    dt = time.perf_counter() - t0
    if any(rcs):
        raise SystemExit(f"scenario {scenario}: a training failed (exit {rcs})")
    return dt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/tmp/bench/mnist.pt", help="prepared MNIST file")
    ap.add_argument("--steps", type=int, default=40, help="training steps per model")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args(argv)
    if not Path(a.data).is_file():
        raise SystemExit(f"{a.data} missing; run: python -m e2sad prepare-data --dataset mnist --src D --out {a.data}")

    names = {
        "A": "2 x 1 thread, concurrent",
        "B": "2 threads, sequential processes",
        "C": "one 2-thread process, sequential",
    }
    wall: dict[str, list[float]] = {s: [] for s in names}
    steps: dict[str, list[float]] = {s: [] for s in names}
    torch.set_num_threads(2)
    print(f"# {machine(torch.device('cpu'))}; natural, {a.steps} steps x 2 models, batch {a.batch_size}")
    with tempfile.TemporaryDirectory(prefix="e2sad-threads-") as tmp:
        order = list(names)
        for r in range(a.rounds):
            rot = order[r % 3 :] + order[: r % 3]
            for s in rot:
                out = f"{tmp}/{s}{r}"
                wall[s].append(run(a, s, out))
                steps[s].append(statistics.median(step_times(out)))
                print(f"# round {r + 1}/{a.rounds} {s}: {wall[s][-1]:.1f} s", file=sys.stderr, flush=True)

    print(f"\n{'scenario':36s} {'wall s':>8s} {'step ms':>8s}")
    for s, label in names.items():
        print(f"{s}  {label:33s} {med(wall[s]):8.1f} {1000 * med(steps[s]):8.1f}")
    ma, mb, mc = (med(wall[s]) for s in "ABC")
    sa, sb = med(steps["A"]), med(steps["B"])
    print(f"\nwall A/B = {ma / mb:.3f}   wall A/C = {ma / mc:.3f}   (< 1: concurrent 1-thread processes finish sooner)")
    print(f"steady state step_A / (2 step_B) = {sa / (2 * sb):.3f}")


if __name__ == "__main__":
    main()
