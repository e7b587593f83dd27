"""Provenance sidecars: every output's ``.meta.json`` says what made it.

The table test takes the table rule's own shell command from a Snakemake dry
run of the smoke config (so the spec is exactly what the workflow passes), runs
it on small hand-written result rows, and checks the sidecar against the config.
The model test trains a tiny model and checks that its sidecar records the seed
and every hyperparameter.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch
import yaml

from e2sad.config.schema import resolve_config
from e2sad.provenance import config_hash

REPO = Path(__file__).resolve().parents[1]


def smoke_config(override: dict) -> dict:
    from snakemake.utils import update_config

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(cfg, yaml.safe_load((REPO / "config" / "smoke.yaml").read_text()))
    update_config(cfg, override)
    return cfg


def assert_common_provenance(meta: dict) -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", meta["config_hash"]), meta["config_hash"]
    assert meta["config_hash"] == config_hash(meta["values"]), "config_hash is not the hash of the recorded values"
    m = re.fullmatch(r"git:([0-9a-f]{40})(-dirty)?", meta["code_version"])
    assert m, meta["code_version"]
    known = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{m.group(1)}^{{commit}}"])
    assert known.returncode == 0, f"code_version {m.group(1)} is not a commit of this repository"
    pk = meta["packages"]
    assert pk["python"] == ".".join(map(str, sys.version_info[:3]))
    for name in ("torch", "numpy", "pandas"):
        assert pk[name] == metadata.version(name), name
    assert meta["created"] and meta["wall_time_s"] >= 0
    assert meta["cpu"]["model"]


@pytest.mark.timeout(180)
def test_table_sidecar_matches_config(tmp_path):
    results = tmp_path / "results"
    override = {"results": str(results)}
    (tmp_path / "override.yaml").write_text(yaml.safe_dump(override))
    target = results / "tables" / "minimax.csv"
    dry = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-p", str(target), "--cores", "1"]
        + ["--configfile", "config/smoke.yaml", str(tmp_path / "override.yaml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr
    cmds = [ln.split("Shell command: ", 1)[-1] for ln in dry.stdout.splitlines() if "python -m e2sad table " in ln]
    assert len(cmds) == 1, dry.stdout
    cmd = cmds[0]
    argv = shlex.split(cmd.split(" 2>&1 | tee ")[0])
    spec = json.loads(argv[argv.index("--spec") + 1])
    rows = argv[argv.index("--rows") + 1 : argv.index("--out-csv")]

    # small rows in the format `e2sad evaluate` writes
    for i, path in enumerate(rows):
        model, seed, attack = Path(path).parts[-3], Path(path).parts[-2], Path(path).stem
        row = {"model": model, "attack_name": attack, "accuracy": 0.5 + i / 100, "n": 64}
        row.update(seed=int(seed.removeprefix("seed")), dataset="mnist")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(row))
    (results / "logs" / "table").mkdir(parents=True)
    run = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr

    cfg = resolve_config(smoke_config(override))  # the config as the plan reads it: schema defaults applied
    table = cfg["tables"]["minimax"]
    for ext in ("csv", "tex", "html"):
        out = results / "tables" / f"minimax.{ext}"
        assert out.is_file()
        meta = json.loads(Path(f"{out}.meta.json").read_text())
        assert_common_provenance(meta)
        assert meta["values"]["spec"] == spec
        recorded = meta["values"]["spec"]["config"]
        # the config that made it: every model of the table with all its keys, the training budget,
        # the evaluation settings, the seeds and the scale
        assert set(table["models"]) <= set(recorded["models"])
        for name, entry in recorded["models"].items():
            assert entry == cfg["models"][name], name
        # the training budget as recorded: a key at its "off" default that changes no table (eps_warmup 0)
        # is left out, so that adding such a key re-runs nothing
        assert recorded["training"] == {k: v for k, v in cfg["training"]["mnist"].items() if k != "eps_warmup"}
        assert recorded["evaluation"] == cfg["evaluation"]
        assert recorded["seeds"] == cfg["seeds"]
        assert recorded["scale"] == "smoke"
        for name, entry in recorded.get("attacks", {}).items():
            assert entry == cfg["attacks"][name], name
        assert meta["config"] == recorded
        assert meta["config_hash_of_study"] == spec["config_hash"]
        assert set(meta["inputs"]) == set(rows)


@pytest.mark.timeout(120)
def test_model_sidecar_records_seed_and_hyperparameters(tmp_path, monkeypatch):
    from e2sad.cli import main
    from e2sad.provenance import ISA_VARIABLES

    for k in ISA_VARIABLES:  # the ISA variables that are set are recorded (here one, as a user would)
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")

    data = tmp_path / "mnist.pt"
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=g)
    y = torch.arange(64) % 10
    torch.save({"dataset": "mnist", "x_train": x, "y_train": y, "x_test": x[:8], "y_test": y[:8]}, data)
    (tmp_path / "mnist.pt.meta.json").write_text(json.dumps({"config_hash": "0123456789abcdef"}))
    out = tmp_path / "model.pt"
    args = ["train", "--name", "prov", "--dataset", "mnist", "--data", str(data), "--defense", "fgsm_at"]
    args += ["--alpha", "0.4", "--eps", "24/255", "--smoothing", "0.75", "--steps", "2", "--batch-size", "16"]
    args += ["--optimizer", "sgd", "--lr", "0.01", "--seed", "7", "--device", "cpu", "--progress-every", "0"]
    args += ["--out", str(out)]
    threads = torch.get_num_threads()
    try:
        assert main(args) == 0
    finally:
        torch.set_num_threads(threads)
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert_common_provenance(meta)
    assert meta["seed"] == 7
    v = meta["values"]
    assert v["seed"] == 7 and v["name"] == "prov"
    assert v["defense"] == "fgsm_at" and v["dataset"] == "mnist"
    assert v["hparams"] == {"alpha": 0.4, "eps": pytest.approx(24 / 255)}
    assert (v["steps"], v["batch_size"], v["optimizer"], v["lr"]) == (2, 16, "sgd", 0.01)
    assert v["smoothing"] == 0.75 and v["precision"] == "fp32" and v["n_train"] == 64
    assert meta["inputs"] == {str(data): {"config_hash": "0123456789abcdef"}}
    # the CPU code path the numbers depend on (docs/results.md "Other CPUs, other digits": AVX2 vs AVX-512)
    assert meta["cpu"]["capability"] == torch.backends.cpu.get_cpu_capability()
    assert meta["cpu"]["isa_env"] == {"MKL_ENABLE_INSTRUCTIONS": "AVX2"} and meta["cpu"]["model"]
    assert meta["train"]["steps_done"] == 2 and meta["train"]["run_hash"] == config_hash(
        {k: val for k, val in v.items() if k != "name"}
    )


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_get_the_mode_of_a_normal_new_file(tmp_path, umask, mode):
    """Outputs are readable by others when the umask says so (mkstemp's 0600 was not), still atomic."""
    import os
    import stat

    from e2sad.provenance import atomic_path, write_json_atomic, write_text_atomic

    old = tmp_path / "old.txt"
    old.write_text("old")
    os.chmod(old, 0o600)
    saved = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "sub" / "a.txt", "text")
        write_json_atomic(tmp_path / "b.json", {"k": 1})
        with atomic_path(tmp_path / "c.pt") as tmp:
            torch.save({"x": 1}, tmp)
        write_text_atomic(old, "new")  # replacing a file gives the new file's mode
        (tmp_path / "plain.txt").write_text("plain")  # a normal new file under the same umask
    finally:
        os.umask(saved)
    written = [tmp_path / "sub" / "a.txt", tmp_path / "b.json", tmp_path / "c.pt", old]
    for p in written + [tmp_path / "plain.txt"]:
        assert stat.S_IMODE(p.stat().st_mode) == mode, (p.name, oct(stat.S_IMODE(p.stat().st_mode)))
    assert old.read_text() == "new" and json.loads((tmp_path / "b.json").read_text()) == {"k": 1}
    assert not [p for p in tmp_path.rglob("*.tmp")], "a temporary file was left behind"


def test_atomic_path_leaves_the_old_file_on_failure(tmp_path):
    from e2sad.provenance import atomic_path

    out = tmp_path / "out.txt"
    out.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
