"""End-to-end check of the SLURM execution path (marker: ``slurm``).

Skipped unless ``E2SAD_SLURM=1``. Needs root on a Debian 12 machine (or one
where workflow/slurm/standup.sh already ran): the tests stand up a one-node
SLURM cluster, run the toy workflow in tests/data/slurm_toy through
workflow/profiles/slurm, check how the slurm-gpu profile's ``gpu: 1``
reaches sbatch, and run the project's smoke study (config/smoke.yaml, target
``all``) through workflow/profiles/slurm with every job a SLURM job (~20 min on
the 2-CPU test node: 90 SLURM jobs).

    E2SAD_SLURM=1 python -m pytest -m slurm tests/test_slurm.py -v
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STANDUP = REPO / "workflow" / "slurm" / "standup.sh"
PROFILES = REPO / "workflow" / "profiles"
TOY = REPO / "tests" / "data" / "slurm_toy"

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(
        os.environ.get("E2SAD_SLURM") != "1",
        reason="SLURM tests run only with E2SAD_SLURM=1 (they install and start slurm)",
    ),
]

SUBMITTED_RE = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")
SUBMITTED_LOG_RE = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.$", re.MULTILINE)
# Snakemake's job header in the main process: "rule train:" for a job handed to
# the executor (SLURM), "localrule all:" for one run by the main process itself.
JOB_HEADER_RE = re.compile(r"^(localrule|rule) (\w+):\n(?:    .*\n)*?    jobid: (\d+)$", re.MULTILINE)
SBATCH_CALL_RE = re.compile(r"^sbatch call: (sbatch .*)$", re.MULTILINE)
STATUS_CMD_RE = re.compile(r"Status query timing \(cycle\): command=(\w+)")


def _run(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run cmd, stdout+stderr together; on timeout the child is killed."""
    try:
        return subprocess.run(
            cmd,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:  # pragma: no cover - failure path
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        pytest.fail(f"timed out after {timeout}s: {' '.join(cmd)}\n{out[-4000:]}")


def _snakemake(profile: str, workdir: Path, *extra: str, timeout: float = 300):
    cmd = [
        sys.executable, "-m", "snakemake",
        "--profile", str(PROFILES / profile),
        "--workflow-profile", "none",
        "-s", str(workdir / "Snakefile"),
        "-d", str(workdir),
        "--verbose",  # the slurm plugin logs each "sbatch call: ..." at debug level
        *extra,
    ]  # fmt: skip
    return _run(cmd, cwd=workdir, timeout=timeout)


@pytest.fixture(scope="module")
def slurm_cluster():
    """Stand up (or find running) the one-node cluster; returns standup's output."""
    # First run on a fresh machine installs packages: allow ten minutes.
    res = _run(["bash", str(STANDUP)], cwd=REPO, timeout=600)
    assert res.returncode == 0, f"standup.sh failed:\n{res.stdout[-4000:]}"
    assert "standup.sh: OK" in res.stdout
    return res.stdout


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    dst = tmp_path / "slurm_toy"
    shutil.copytree(TOY, dst)
    return dst


def test_standup_is_idempotent(slurm_cluster):
    res = _run(["bash", str(STANDUP)], cwd=REPO, timeout=120)
    assert res.returncode == 0, res.stdout
    assert "slurmctld already running" in res.stdout
    assert "slurmd already running" in res.stdout
    sinfo = _run(["sinfo", "-h", "-p", "main", "-o", "%a %t"], cwd=REPO, timeout=30)
    assert sinfo.returncode == 0 and sinfo.stdout.split()[0] == "up", sinfo.stdout


def test_toy_workflow_runs_as_slurm_jobs(slurm_cluster, toy: Path):
    res = _snakemake("slurm", toy, timeout=300)
    log = res.stdout
    assert res.returncode == 0, f"toy workflow failed through the slurm profile:\n{log[-6000:]}"

    data = toy / "results" / "data.txt"
    trained = toy / "results" / "trained.txt"
    assert data.is_file() and trained.is_file()

    # One SLURM job per rule (rule `all` is local), with distinct job ids.
    submitted = SUBMITTED_RE.findall(log)
    assert len(submitted) == 2, f"expected 2 SLURM submissions, log says {submitted}"
    slurm_ids = {sid for _, sid in submitted}
    assert len(slurm_ids) == 2

    # The jobs really ran inside SLURM: each output records $SLURM_JOB_ID.
    ran_under = set(re.findall(r"slurm_job_id=(\S+)", trained.read_text()))
    assert ran_under == slurm_ids, (ran_under, slurm_ids)

    # ... and SLURM knows them as completed (kept for MinJobAge=300 s).
    for sid in slurm_ids:
        show = _run(["scontrol", "show", "job", sid], cwd=toy, timeout=30)
        assert "JobState=COMPLETED" in show.stdout, show.stdout
        assert any((toy / ".snakemake" / "slurm_logs").rglob(f"{sid}.log")), sid

    # Status was polled with squeue (sacct cannot work without accounting).
    used = set(STATUS_CMD_RE.findall(log))
    assert "sacct" not in used, f"plugin polled with sacct: {used}"

    # The per-rule resources of the profile reached sbatch; no GPU in this profile.
    calls = SBATCH_CALL_RE.findall(log)
    train_call = [c for c in calls if "--comment rule_train" in c]
    assert len(train_call) == 1, calls
    assert "-p main" in train_call[0]
    assert "--mem 4000" in train_call[0]
    # No cpus_per_task in the profile: CPUs follow the rule's threads (1 in the toy).
    assert "--cpus-per-task=1" in train_call[0]
    assert "--gpus" not in train_call[0]


def test_gpu_resource_becomes_sbatch_gpus(slurm_cluster, toy: Path):
    # Only `train` should be submitted: provide its input without running prepare_data.
    (toy / "results").mkdir()
    (toy / "results" / "data.txt").write_text("prepare_data slurm_job_id=none\n")

    res = _snakemake("slurm-gpu", toy, timeout=300)
    log = res.stdout
    calls = SBATCH_CALL_RE.findall(log)
    train_call = [c for c in calls if "--comment rule_train" in c]
    assert len(train_call) == 1, f"no sbatch call for train in the log:\n{log[-6000:]}"
    tokens = train_call[0].split(" --wrap=")[0].split()
    assert "--gpus=1" in tokens, train_call[0]
    # The cluster from standup.sh has no GPU GRES, so SLURM may reject the job;
    # any other failure is a real error.
    if res.returncode != 0:
        assert "SLURM sbatch failed" in log, log[-6000:]


SMOKE_ARTIFACTS = [
    "tables/table_3_1.tex",
    "tables/table_3_2.csv",
    "tables/minimax.html",
    "figures/figure_3_3a.pdf",
    "figures/figure_3_3b.png",
    "tables/training_cost.csv",
]


def _job_stats(log: str) -> dict[str, int]:
    """The first "Job stats:" table of a snakemake log, as {rule: count} (without total)."""
    m = re.search(r"^Job stats:\n.*\n-+ +-+\n((?:\S+ +\d+\n)+)", log, re.MULTILINE)
    assert m, "no 'Job stats' table in the snakemake log"
    stats = dict((r, int(n)) for r, n in re.findall(r"^(\S+) +(\d+)$", m.group(1), re.MULTILINE))
    total = stats.pop("total")
    assert sum(stats.values()) == total, stats
    return stats


def _slurmctld_log() -> Path:
    res = _run(["scontrol", "show", "config"], cwd=REPO, timeout=30)
    m = re.search(r"^SlurmctldLogFile\s*=\s*(\S+)", res.stdout, re.MULTILINE)
    assert m, res.stdout[-2000:]
    return Path(m.group(1))


@pytest.mark.timeout(4200)
def test_smoke_study_runs_as_slurm_jobs(slurm_cluster, tmp_path: Path):
    """config/smoke.yaml, target `all`, through workflow/profiles/slurm, from the repo root."""
    results = tmp_path / "results"  # absolute: nobody else's results/smoke is touched
    override = tmp_path / "override.yaml"
    override.write_text(f"results: {results}\n")
    cmd = [
        sys.executable, "-m", "snakemake", "all",
        "--profile", "workflow/profiles/slurm",
        "--configfile", "config/smoke.yaml", str(override),
    ]  # fmt: skip
    # No --nolock: snakemake's lock only conflicts with a run whose inputs/outputs
    # overlap ours, and all our outputs are under tmp_path. (Should a concurrent
    # run in the repo root ever raise a LockException, --nolock is safe here for
    # the same reason.)
    log_file = tmp_path / "snakemake.log"
    print(f"\nsmoke via SLURM: {' '.join(cmd)}\n  results: {results}\n  log: {log_file}", flush=True)
    timeout = 3900
    t0 = time.monotonic()
    with open(log_file, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, text=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # pragma: no cover - failure path
            # SIGINT lets snakemake scancel its SLURM jobs before it exits.
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            run_id = re.search(r"SLURM run ID: (\S+)", log_file.read_text())
            if run_id:
                _run(["scancel", "--name", run_id.group(1)], cwd=REPO, timeout=60)
            pytest.fail(f"smoke via SLURM timed out after {timeout}s:\n{log_file.read_text()[-6000:]}")
    wall = time.monotonic() - t0
    log = log_file.read_text()
    assert rc == 0, f"smoke study failed through the slurm profile (exit {rc}):\n{log[-6000:]}"

    # Only the slurm profile was read: the Snakefile is in the repo root, so the
    # workflow profile workflow/profiles/default (local, cores: all) is NOT auto-
    # loaded (snakemake looks for profiles/default next to the Snakefile).
    assert "Using profile workflow/profiles/slurm for setting default command line arguments." in log
    assert "workflow specific profile" not in log
    assert "Falling back to 'sacct'" not in log, "plugin polled with sacct"

    for rel in SMOKE_ARTIFACTS:
        f = results / rel
        assert f.is_file() and f.stat().st_size > 0, f"missing artifact {f}"

    # Every job snakemake ran, except the local target rule, was submitted to SLURM.
    stats = _job_stats(log)
    headers = JOB_HEADER_RE.findall(log)
    local = {int(j): r for kind, r, j in headers if kind == "localrule"}
    remote = {int(j): r for kind, r, j in headers if kind == "rule"}
    assert set(local.values()) <= {"all"}, f"jobs run outside SLURM: {local}"
    assert len(local) + len(remote) == sum(stats.values()), (stats, len(local), len(remote))
    n_done = re.findall(r"^(\d+) of (\d+) steps \(100%\) done$", log, re.MULTILINE)
    assert n_done and n_done[-1][0] == n_done[-1][1] == str(sum(stats.values())), n_done

    submitted = SUBMITTED_LOG_RE.findall(log)
    by_job = {int(j): (sid, Path(lg)) for j, sid, lg in submitted}
    assert len(by_job) == len(submitted), "a snakemake job was submitted twice"
    assert set(by_job) == set(remote), (sorted(set(remote) - set(by_job)), sorted(set(by_job) - set(remote)))
    slurm_ids = sorted(int(sid) for sid, _ in by_job.values())
    assert len(set(slurm_ids)) == len(slurm_ids) == sum(stats.values()) - len(local)
    per_rule = {}
    for r in remote.values():
        per_rule[r] = per_rule.get(r, 0) + 1
    assert per_rule == {r: n for r, n in stats.items() if r not in set(local.values())}, (per_rule, stats)

    # Each job left its SLURM log (.snakemake/slurm_logs/rule_<rule>/.../<id>.log,
    # kept by slurm-keep-successful-logs), written during this run ...
    start_wall = time.time() - wall
    for j, (sid, lg) in by_job.items():
        lg = lg if lg.is_absolute() else REPO / lg
        assert lg.is_file(), f"no SLURM log for job {j} ({remote[j]}): {lg}"
        assert lg.name == f"{sid}.log" and f"rule_{remote[j]}" in lg.parts, lg
        assert lg.stat().st_mtime >= start_wall - 1, f"stale SLURM log {lg}"
        # slurmd wrote it: the jobstep snakemake inside the SLURM job ran the rule.
        assert f"rule {remote[j]}:" in lg.read_text(errors="replace"), lg

    # ... and slurmctld itself allocated and completed each one with exit 0 (its
    # log outlives MinJobAge, unlike `scontrol show job`).
    ctld = _slurmctld_log().read_text(errors="replace")
    for sid in slurm_ids:
        assert re.search(rf"_job_complete: JobId={sid} WEXITSTATUS 0$", ctld, re.MULTILINE), (
            f"slurmctld.log has no successful completion of JobId={sid}"
        )

    print(
        f"smoke via SLURM: exit 0 in {wall:.0f}s wall; {sum(stats.values())} jobs, "
        f"{len(slurm_ids)} SLURM jobs (local: {sorted(local.values())}); per rule {per_rule}\n"
        f"  SLURM job ids {slurm_ids[0]}..{slurm_ids[-1]} (count {len(slurm_ids)}): "
        f"{' '.join(map(str, slurm_ids))}",
        flush=True,
    )
