"""The paper-scale check on one GPU (../shared/GPU.md, steps 1-3) as one bounded run.

For a lent GPU machine without Snakemake on it: the jobs are the workflow's own command
lines (built by :class:`e2sad.plan.Study` from ``config.yaml`` + ``config/paper-gpu.yaml``),
run by this script in dependency order, all within ``--deadline`` seconds:

1. the projected study time per precision (``bench/project.py --time``, GPU idle);
2. the key trio (``--models``) trained at the paper's budget, side by side on the GPU, each
   followed by its Table 3.1 cells (whole test set) and the robustness check (PGD-40 x 5,
   APGD-CE, APGD-T, AutoAttack on ``robustness.n_test`` images);
3. the test suite (CUDA paths), beside step 2.

At the deadline every job still running is stopped (a training keeps its checkpoint, so the
same command on the still-warm machine resumes it). Everything lands in ``--out``: the log,
``results.tgz`` (JSON rows with provenance, training logs, bench output, test log) and each
finished model.  ``--dry-run`` prints the plan (here, without a GPU).

    python bench/paper_gpu.py --out "$OUT" --deadline 540

Device notes (learnt on an H200, 2026-11-26, at the cost of that session's whole GPU time):
do not pipe this script's output through ``cut``/``grep`` (they buffer it, and a killed call
returns nothing); on the device ``python`` must be a wrapper script that execs ``python3``
(a symlink to the venv's python loses the venv: no torch); the wheels Snakemake needs come
in ``.whl`` (device README). A watchdog ends the script 25 s after ``--deadline``.
Learnt on an H100 (2026-11-26, docs/results/paper-gpu/README.md): the tests' MNIST fixture reads
``$E2SAD_MNIST`` (this script sets it from the config's MNIST folder); a carried folder that is
read-only here was not re-copied onto the warm machine for a second call (keep it writable);
``snakefmt`` is not on the device image (its lint test is deselected here; CI runs it).
In 540 s the trio call trained natural (94 s) and e2SAD (278 s) side by side with IFGSM-AT, which
needs ~28 min when it shares the GPU: give it a call of its own (``--models mnist_ifgsm03_S``,
repeated on the warm machine; it resumes from its checkpoint).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import shlex
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from project import merged  # noqa: E402

from e2sad.config.messages import few  # noqa: E402
from e2sad.plan import Plan, load_study  # noqa: E402

TRIO = ["mnist_natural_H", "mnist_e2sad_S", "mnist_ifgsm03_S"]
T0 = time.time()
LOCK = threading.Lock()


def log(msg: str, fh) -> None:
    line = f"[{time.time() - T0:7.1f}s] {msg}"
    with LOCK:
        print(line, flush=True)
        fh.write(line + "\n")
        fh.flush()


def plan(
    configfiles: list[str], models: list[str], seeds: list[int] | None, frontier: bool = False
) -> tuple[Plan, dict, dict]:
    """The jobs of each (model, seed) chain, in order: its training, then its evaluations. By
    default a paper-table chain (Table 3.1's attacks on the whole test set and the robustness
    check); ``frontier``: the frontier's own evaluations (``frontier.attacks`` on its images,
    written where ``snakemake frontier`` reads them), on each model's frontier seeds unless
    ``seeds`` are given. Returns the plan, the data preparation, and {chain: (model file, jobs)}."""
    cfg = merged([str(REPO / "config.yaml")] + configfiles)
    plan_ = Plan.of(load_study(cfg, base_dir=REPO))
    st, cmd = plan_.study, plan_.commands
    L, c = st.layout, st.compute
    if frontier and not st.frontier_active():
        raise SystemExit("--frontier: the configuration has no active frontier section")
    trained = plan_.frontier.trained()
    unknown = [m for m in models if frontier and m not in trained]
    if unknown:
        near = difflib.get_close_matches(unknown[0], trained, n=3, cutoff=0.5)
        raise SystemExit(
            f"--frontier: {', '.join(unknown)} not among the frontier's {len(trained)} models"
            f" (nearest: {few(near or trained, 3)})"
        )
    ds = st.dataset_of(models[0])
    data = L.path("data", dataset=ds)
    prep = (
        f"python -m e2sad prepare-data --dataset {ds} --src {shlex.quote(cmd.data_source(ds))} "
        f"{cmd.prepare_args(ds)} --out {data}"
    )

    def evaluate(m: str, seed: int, a: str, section: dict | None, out: str) -> str:
        return (
            f"python -m e2sad evaluate --name {m} --model {st.model_file(m, seed)} --data {data} "
            f"--attack-name {a} {cmd.attack_args(a)} {cmd.eval_args(m, section)} --seed {seed} "
            f"--threads 2 --out {out}"
        )

    chains = {}
    for m in models:
        for seed in seeds if seeds is not None else (plan_.frontier.seeds_of(m) if frontier else [0]):
            out = st.model_file(m, seed)
            jobs = [
                (
                    "train",
                    f"python -m e2sad train --name {m} --data {data} {cmd.train_args(m)} --seed {seed} "
                    f"--threads 2 --ckpt {L.path('ckpt', model=m, seed=seed)} --ckpt-every {c['ckpt_every']} "
                    f"--progress-every {c['progress_every']} --log-every {c['log_every']} "
                    f"--log-csv {L.path('train_log', model=m, seed=seed)} "
                    f"{cmd.snapshot_args(m, seed)} --out {out}",
                )
            ]
            if frontier:
                for a in st.frontier["attacks"]:
                    f_out = L.path("frontier_eval", model=m, seed=seed, attack=a)
                    jobs.append((f"frontier {a}", evaluate(m, seed, a, st.frontier, f_out)))
            else:
                for a in st.tables["table_3_1"]["attacks"]:
                    jobs.append((f"eval {a}", evaluate(m, seed, a, None, st.eval_file(m, seed, a))))
                clean = [plan_.science.clean_attack()] if plan_.science.clean_attack() else []
                for a in clean + list(st.robust["attacks"]):
                    r_out = L.path("robust_eval", model=m, seed=seed, attack=a)
                    jobs.append((f"robust {a}", evaluate(m, seed, a, st.robust, r_out)))
            chains[m if seed == 0 and not frontier else f"{m}@seed{seed}"] = (out, jobs)
    return plan_, {"prepare": prep, "data": data}, chains


def pack(base: Path, out: Path, models: list[tuple[str, Path]]) -> None:
    """results.tgz (every result file but tensors) and the finished models, written atomically."""
    tmp = out / "results.tgz.tmp"
    with tarfile.open(tmp, "w:gz") as tar:
        for p in sorted(base.rglob("*")):
            if p.is_file() and p.suffix != ".pt":
                tar.add(p, arcname=os.path.relpath(p, REPO))
    tmp.replace(out / "results.tgz")
    for name, f in models:
        if f.exists() and not (out / f"{name}.pt").exists():
            (out / f"{name}.pt.tmp").write_bytes(f.read_bytes())
            (out / f"{name}.pt.tmp").replace(out / f"{name}.pt")


PIECE = 15 * 2**20  # the device returns files of at most 16 MiB


def split_ckpt(ckpt: Path, out: Path, name: str) -> int:
    """An unfinished training's checkpoint (~39 MB with Adam's state) into ``out`` as
    ``<name>.ckpt.00``, ``.01``, ... of at most 15 MiB each, so that it comes back and can be carried
    into the next session (``--ckpt-in``). Returns the number of pieces."""
    for old in out.glob(f"{name}.ckpt.*"):
        old.unlink()
    data = ckpt.read_bytes()
    pieces = [data[i : i + PIECE] for i in range(0, len(data), PIECE)]
    for i, piece in enumerate(pieces):
        tmp = out / f"{name}.ckpt.{i:02d}.tmp"
        tmp.write_bytes(piece)
        tmp.replace(out / f"{name}.ckpt.{i:02d}")
    log_csv = ckpt.with_name(ckpt.name + ".log.csv")  # the training log so far: the final log is whole
    if log_csv.exists():
        (out / f"{name}.ckpt.log.csv").write_bytes(log_csv.read_bytes())
    return len(pieces)


def join_ckpt(src: Path, name: str, ckpt: Path) -> bool:
    """The pieces ``split_ckpt`` wrote, carried in ``src``, back into the checkpoint the training
    resumes from (unless a checkpoint is already there, as on a warm machine)."""
    pieces = sorted(src.glob(f"{name}.ckpt.[0-9][0-9]"))
    if not pieces or ckpt.exists():
        return False
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    tmp = ckpt.with_name(ckpt.name + ".joining")
    with open(tmp, "wb") as f:
        for p in pieces:
            f.write(p.read_bytes())
    log_csv = src / f"{name}.ckpt.log.csv"
    if log_csv.exists():
        ckpt.with_name(ckpt.name + ".log.csv").write_bytes(log_csv.read_bytes())
    tmp.replace(ckpt)
    return True


def ckpt_of(cmd: str) -> str:
    """The ``--ckpt`` path of a training command line."""
    words = shlex.split(cmd)
    return words[words.index("--ckpt") + 1]


def watchdog(seconds: float, fh) -> None:
    """Ends this process (and its job groups' leader) ``seconds`` after the start, whatever hangs."""
    time.sleep(max(seconds - (time.time() - T0), 0))
    log("WATCHDOG: still running past the deadline; exiting", fh)
    os._exit(3)


class Runner:
    def __init__(self, deadline: float, fh, logdir: Path):
        self.deadline, self.fh, self.logdir = deadline, fh, logdir

    def left(self) -> float:
        return self.deadline - (time.time() - T0)

    def run(self, name: str, cmd: str, timeout: float | None = None) -> bool:
        if self.left() < 5:
            log(f"SKIP {name} (deadline)", self.fh)
            return False
        limit = self.left() if timeout is None else min(timeout, self.left())
        logf = self.logdir / (name.replace(" ", "_").replace("/", "_") + ".log")
        log(f"START {name}: {cmd}", self.fh)
        t = time.time()
        with open(logf, "w") as out:
            # its own process group: at the deadline the job and every process it started stop
            p = subprocess.Popen(
                cmd, shell=True, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                rc = p.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                rc = "timeout"
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, sig)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        p.wait(timeout=10)
                        break
        tail = logf.read_text(errors="replace").strip().splitlines()[-2:]
        log(f"END {name}: rc={rc} in {time.time() - t:.1f}s | {' | '.join(tail)}", self.fh)
        return rc == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="gpu-out")
    ap.add_argument("--configfile", nargs="*", default=["config/paper-gpu.yaml"])
    ap.add_argument("--models", nargs="*", default=TRIO)
    ap.add_argument("--seeds", type=int, nargs="*", help="seeds (default: 0; --frontier: each model's frontier seeds)")
    ap.add_argument(
        "--frontier",
        action="store_true",
        help="each model's frontier evaluations (frontier.attacks on its images, where `snakemake frontier` "
        "reads them) instead of the paper table's and the robustness check",
    )
    ap.add_argument("--deadline", type=float, default=540, help="seconds from start; jobs still running then stop")
    ap.add_argument("--bench", nargs="*", default=["fp32", "tf32", "bf16"], help="precisions to time")
    ap.add_argument("--bench-timeout", type=float, default=45)
    ap.add_argument("--micro", type=int, default=2000, help="steps of the sharing/sync/compile runs; 0 skips")
    ap.add_argument("--device", default="cuda", help="device of the bench and micro runs")
    ap.add_argument(
        "--tests",
        default="-m 'not slow and not slurm' -n 4 --dist loadfile "
        "--deselect tests/test_workflow.py::test_lint_and_format_are_clean",
        help="pytest args; '' skips",
    )
    ap.add_argument(
        "--ckpt-in",
        default=".gpu/ckpt",
        help="folder of checkpoint pieces (<model>.ckpt.NN) brought back by an earlier call, to resume from",
    )
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()

    plan_, data, chains = plan(args.configfile, args.models, args.seeds, args.frontier)
    st, commands = plan_.study, plan_.commands
    if args.dry_run:
        print(data["prepare"])
        for m, (_, jobs) in chains.items():
            for name, cmd in jobs:
                print(f"[{m}] {name}: {cmd}")
        return 0

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logdir = REPO / st.results / "gpu_logs"
    logdir.mkdir(parents=True, exist_ok=True)
    fh = open(out / "log.txt", "a")
    r = Runner(args.deadline, fh, logdir)
    threading.Thread(target=watchdog, args=(args.deadline + 25, fh), daemon=True).start()
    r.run(
        "env",
        "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; "
        "python -c 'import torch; print(torch.__version__, torch.cuda.get_device_name())'; git log -1 --format=%H",
        60,
    )
    if not Path(REPO / data["data"]).exists() and not r.run("prepare", data["prepare"], 120):
        return 1
    for prec in args.bench:
        r.run(
            f"bench_{prec}",
            f"python bench/project.py --configfile config/paper-gpu.yaml --time --device {args.device} "
            f"--precision {prec} --reps 5 --warmup 2",
            args.bench_timeout,
        )

    if args.micro:
        # issue 13 items 4-5: natural training steps/s with a host sync every step vs every
        # 50, with torch.compile (CUDA graphs), and 1 vs 4 trainings sharing the device;
        # read off the progress lines (cumulative img/s at N/2 and N)
        base = (
            f"python -m e2sad train --dataset {st.dataset_of(args.models[0])} --data {data['data']} "
            f"{commands.train_args(args.models[0])} --steps {args.micro} --progress-every {args.micro // 2} "
            f"--device {args.device} --threads 2 --seed 0"
        )
        tmp = f"{st.results}/micro"
        for name, extra in [
            ("micro_sync1", "--log-every 1"),
            ("micro_sync50", "--log-every 50"),
            ("micro_x4", "--log-every 50"),
            ("micro_compile", "--log-every 50 --compile reduce-overhead"),
        ]:
            n = 4 if name == "micro_x4" else 1
            both = " & ".join(f"{base} {extra} --name {name}_{i} --out {tmp}/{name}_{i}.pt" for i in range(n))
            r.run(name, f"mkdir -p {tmp}; {both}; wait", 90 if "compile" in name else 45)

    finished = [(m, REPO / model) for m, (model, _) in chains.items()]
    for m, (_, jobs) in chains.items():
        if join_ckpt(REPO / args.ckpt_in, m, REPO / ckpt_of(jobs[0][1])):
            log(f"RESUME {m} from the checkpoint pieces in {args.ckpt_in}", fh)

    def chain(m: str) -> None:
        for name, cmd in chains[m][1]:
            target = cmd.rsplit("--out ", 1)[1]
            if Path(REPO / target).exists():
                log(f"HAVE {m} {name}", fh)
                continue
            ok = r.run(f"{m} {name}", cmd)
            with LOCK:  # what is done so far is in --out even if the call is cut short
                try:
                    pack(REPO / st.results, out, finished)
                except Exception as e:  # a failed pack must not end the chain
                    print(f"pack failed: {e!r}", flush=True)
            if not ok and name == "train":
                return

    threads = [threading.Thread(target=chain, args=(m,)) for m in chains]
    for t in threads:
        t.start()
    if args.tests:
        mnist = shlex.quote(str((REPO / commands.data_source("mnist")).resolve()))
        r.run("pytest", f"E2SAD_MNIST={mnist} python -m pytest -q -p no:cacheprovider {args.tests} --timeout 600 -rfE")
    for t in threads:
        t.join()

    log(f"packing ({r.left():.0f}s left)", fh)
    pack(REPO / st.results, out, finished)
    for m, (model, jobs) in chains.items():  # an unfinished training: its checkpoint comes back in pieces
        ckpt = REPO / ckpt_of(jobs[0][1])
        if ckpt.exists() and not (REPO / model).exists():
            log(f"{m}: checkpoint in {split_ckpt(ckpt, out, m)} pieces ({ckpt.stat().st_size:,} bytes)", fh)
    log("done", fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
