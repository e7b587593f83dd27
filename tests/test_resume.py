"""Kill and resume: a training run killed with SIGKILL and started again with the
same command resumes from its checkpoint and ends bit for bit where an
uninterrupted run with the same seed ends.

``test_cli_kill_resume`` runs ``python -m e2sad train`` directly (default suite);
``test_snakemake_kill_resume`` kills a whole Snakemake run of the smoke
workflow's train job and reruns it with ``--rerun-incomplete`` (slow).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
MNIST_DIR = Path(os.environ.get("E2SAD_MNIST", REPO.parent / "shared" / "data" / "mnist"))


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory) -> Path:
    """A prepared file of the first 352 MNIST training images (11 batches of 32 per epoch,
    so the checkpoints at steps 10, 20, 30 fall inside an epoch) and 64 test images."""
    from e2sad.data import load_idx

    d = {k: torch.from_numpy(v) for k, v in load_idx(MNIST_DIR).items() if not k.startswith("_")}
    path = tmp_path_factory.mktemp("data") / "mnist_small.pt"
    torch.save(
        {
            "dataset": "mnist",
            "x_train": d["x_train"][:352].clone(),
            "y_train": d["y_train"][:352].clone(),
            "x_test": d["x_test"][:64].clone(),
            "y_test": d["y_test"][:64].clone(),
        },
        path,
    )
    return path


def wait_for(path: Path, proc: subprocess.Popen, timeout: float) -> None:
    """Poll until ``path`` exists; fail if the process ends first or time runs out."""
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"process ended (rc {proc.returncode}) before {path} appeared")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            pytest.fail(f"{path} did not appear within {timeout} s")
        time.sleep(0.02)


def assert_state_dicts_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors differ from the uninterrupted run: {different}"


def train_args(data: Path, out: Path, steps: int, ckpt: Path | None = None, log_csv: Path | None = None) -> list[str]:
    args = ["train", "--name", "resume_test", "--dataset", "mnist", "--data", str(data), "--defense", "natural"]
    args += ["--smoothing", "none", "--steps", str(steps), "--batch-size", "32", "--seed", "3", "--threads", "1"]
    args += ["--ckpt-every", "10", "--progress-every", "10", "--device", "cpu", "--out", str(out)]
    if ckpt:
        args += ["--ckpt", str(ckpt)]
    if log_csv:
        args += ["--log-csv", str(log_csv)]
    return args


@pytest.mark.timeout(240)
def test_cli_kill_resume(tmp_path, small_mnist):
    steps = 40
    out, ckpt, log_csv = tmp_path / "model.pt", tmp_path / "ckpt" / "ckpt.pt", tmp_path / "train_log.csv"
    cmd = [sys.executable, "-m", "e2sad", *train_args(small_mnist, out, steps, ckpt, log_csv)]

    with open(tmp_path / "first.err", "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        wait_for(ckpt, proc, timeout=150)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists(), "the run finished before it could be killed; the test proves nothing"
    killed_at = torch.load(ckpt, weights_only=True)
    assert 10 <= killed_at["step"] < steps

    second = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stderr
    assert f"resuming from {ckpt} at step {killed_at['step']}/{steps}" in second.stderr, second.stderr
    assert not ckpt.exists(), "checkpoint not removed after the run completed"
    resumed = torch.load(out, weights_only=True)
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["train"]["resumed_from"] == killed_at["step"] and meta["train"]["steps_done"] == steps

    # the uninterrupted run, in this process with the same single thread
    from e2sad.cli import main

    threads = torch.get_num_threads()
    try:
        ref_out = tmp_path / "ref" / "model.pt"
        assert main(train_args(small_mnist, ref_out, steps)) == 0
    finally:
        torch.set_num_threads(threads)
    reference = torch.load(ref_out, weights_only=True)

    assert_state_dicts_equal(resumed, reference)
    # and training did move on after the checkpoint (equality above is not trivial)
    assert any(not torch.equal(resumed[k], killed_at["model"][k].cpu()) for k in resumed)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_snakemake_kill_resume(tmp_path):
    """SIGKILL the whole Snakemake process group during the train job, rerun with --rerun-incomplete."""
    results = tmp_path / "results"
    override = tmp_path / "override.yaml"
    override.write_text(
        f"results: {results}\n"
        "training:\n  mnist: {steps: 60, batch_size: 32, optimizer: adam, lr: 0.001}\n"
        "compute: {ckpt_every: 10, progress_every: 10, train_threads: 1, eval_threads: 1}\n"
    )
    model = results / "models" / "mnist_natural_H" / "seed0" / "model.pt"
    ckpt = results / "checkpoints" / "mnist_natural_H" / "seed0" / "ckpt.pt"
    log = results / "logs" / "train" / "mnist_natural_H" / "seed0.log"
    # --nolock: other engineers run Snakemake in this same folder; a killed run's lock (and the
    # --unlock a user would then run, which drops every lock of the folder) must not touch theirs
    base = [sys.executable, "-m", "snakemake", str(model), "--cores", "1", "--nolock"]
    base += ["--configfile", "config/smoke.yaml", str(override)]

    with open(tmp_path / "first.log", "w") as fh:
        proc = subprocess.Popen(base, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(ckpt, proc, timeout=600)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its job: the machine died
            proc.wait(timeout=30)
    time.sleep(0.5)
    assert not model.exists(), "the job finished before it could be killed; the test proves nothing"
    killed_at = torch.load(ckpt, weights_only=True)["step"]
    assert 10 <= killed_at < 60

    second = subprocess.run([*base, "--rerun-incomplete"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    text = log.read_text()
    assert f"resuming from {ckpt} at step {killed_at}/60" in text, text
    resumed = torch.load(model, weights_only=True)

    # the uninterrupted run: the job's own command line (from the model's sidecar), fresh outputs, no checkpoint
    argv = json.loads(Path(f"{model}.meta.json").read_text())["command"][1:]
    ref = tmp_path / "ref"
    for opt, new in (("--out", ref / "model.pt"), ("--log-csv", ref / "log.csv"), ("--ckpt", ref / "none" / "c.pt")):
        argv[argv.index(opt) + 1] = str(new)
    ref_run = subprocess.run([sys.executable, "-m", "e2sad", *argv], cwd=REPO, capture_output=True, text=True)
    assert ref_run.returncode == 0, ref_run.stderr
    assert "resuming" not in ref_run.stderr
    assert_state_dicts_equal(resumed, torch.load(ref / "model.pt", weights_only=True))
