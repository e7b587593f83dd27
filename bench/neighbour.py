"""What a job on the other core costs a job: one evaluation alone, and two copies of it at once.

The verdict runs two one-thread jobs at a time on a 2-core machine (``--cores 2``); whether that
is worth two cores depends on the machine (two virtual CPUs may share one physical core, caches
or memory bandwidth). This runs the same ``python -m e2sad evaluate`` command (an AutoAttack by
default, the verdict's most expensive job) alone and as two copies started together, alternating
over ``--rounds`` rounds (the order rotated each round), and prints the median wall seconds of a
job alone and beside its copy, and their ratio: 1.0 is two independent cores, 2.0 one core shared.

    snakemake --cores 2 results/verdict/models/mnist_pgd_at_H__equal_cost/seed0/model.pt \\
        --configfile config/verdict.yaml
    python bench/neighbour.py --configfile config/verdict.yaml --model mnist_pgd_at_H__equal_cost \\
        --attack autoattack_0.3 --n 200 --rounds 2
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from common import machine, med  # noqa: E402
from paper_gpu import plan  # noqa: E402


def with_option(words: list[str], option: str, value: str) -> list[str]:
    """``words`` (a command line) with ``option``'s value replaced (the option must be there)."""
    i = words.index(option)
    return words[: i + 1] + [value] + words[i + 2 :]


def evaluate_cmd(a, out: str) -> list[str]:
    """The frontier's evaluation job of ``a.model`` (seed ``a.seed``) under ``a.attack``, the command
    Snakemake's rule runs (bench/paper_gpu.py's plan, checked against the rule's by the tests), on
    ``a.n`` of the frontier's test images, with one thread, written to ``out``."""
    _, _, chains = plan(a.configfile, [a.model], [a.seed], frontier=True)
    model, jobs = chains[f"{a.model}@seed{a.seed}"]
    found = dict(jobs)
    if f"frontier {a.attack}" not in found:
        attacks = [n.removeprefix("frontier ") for n, _ in jobs if n != "train"]
        raise SystemExit(f"--attack {a.attack}: not a frontier attack (those: {', '.join(attacks)})")
    words = shlex.split(found[f"frontier {a.attack}"])
    for path in (model, words[words.index("--data") + 1]):
        if not Path(path).is_file():
            raise SystemExit(f"{path}: not there; make it first (snakemake --cores 2 {path} --configfile ...)")
    for option, value in (("--n", str(a.n)), ("--threads", "1"), ("--out", out)):
        words = with_option(words, option, value)
    return [sys.executable if w == "python" else w for w in words]


def run_together(cmds: list[list[str]]) -> list[float]:
    """Start every command at once; each one's wall seconds from the common start to its own end."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for c in cmds]
    secs, errs = [0.0] * len(procs), [""] * len(procs)

    def wait(k: int) -> None:
        errs[k] = procs[k].communicate()[1]
        secs[k] = time.perf_counter() - t0

    waiters = [threading.Thread(target=wait, args=(k,)) for k in range(len(procs))]
    for w in waiters:
        w.start()
    for w in waiters:
        w.join()
    for c, p, err in zip(cmds, procs, errs):
        if p.returncode:
            raise SystemExit(f"{shlex.join(c[:4])} ... failed (exit {p.returncode}): {err.strip().splitlines()[-1:]}")
    return secs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", nargs="+", default=["config/verdict.yaml"])
    ap.add_argument("--model", default="mnist_pgd_at_H__equal_cost", help="a frontier model (trained)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--attack", default="autoattack_0.3", help="one of the frontier's attacks")
    ap.add_argument("--n", type=int, default=200, help="test images (the frontier's sample)")
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)  # the jobs' own thread count, so that the machine line below says so
    alone, beside = [], []
    with tempfile.TemporaryDirectory() as tmp:
        one = evaluate_cmd(a, f"{tmp}/0.json")  # the plan is built once; the copy writes its own file
        cmd = [one, with_option(one, "--out", f"{tmp}/1.json")]
        for r in range(a.rounds):
            for kind in ("alone", "beside") if r % 2 == 0 else ("beside", "alone"):
                if kind == "alone":
                    alone += run_together(cmd[:1])
                else:
                    beside += run_together(cmd)
                print(f"round {r + 1}/{a.rounds} {kind}: done", file=sys.stderr, flush=True)
    m_alone, m_beside = med(alone), med(beside)
    print(f"{machine(torch.device('cpu'))}; {a.attack} on {a.n} test images, one thread a job, {a.rounds} rounds")
    print(f"a job alone {m_alone:.1f} s, beside its copy {m_beside:.1f} s (medians, start-up included)")
    print(f"beside / alone = {m_beside / m_alone:.2f} (1.0: two independent cores; 2.0: one shared)")
    print(f"two jobs' throughput on 2 cores = {2 * m_alone / m_beside:.2f} x one job alone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
