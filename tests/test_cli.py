"""The command line itself: jobs that need no torch do not import it."""

import subprocess
import sys

import pytest


def imported_modules(*args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "e2sad", *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-500:]
    return {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("cmd", ["table", "cost-table", "plot-surface", "frontier-table"])
def test_table_and_plot_jobs_do_not_import_torch(cmd):
    mods = imported_modules(cmd, "--help")
    assert "e2sad.cli" in mods and "torch" not in mods


def test_training_job_builds_its_options_from_the_declarations():
    mods = imported_modules("train", "--help")
    assert "torch" in mods and "e2sad.defenses" in mods


HEAP_PROBE = """
import ctypes, sys
from e2sad.runtime import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
addr = libc.malloc(8 << 20)  # an 8 MB buffer, the size of an activation of a pass at batch 64
heap = [line.split()[0].split("-") for line in open("/proc/self/maps") if line.rstrip().endswith("[heap]")]
print(any(int(lo, 16) <= addr < int(hi, 16) for lo, hi in heap))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc and /proc/self/maps")
def test_every_job_keeps_freed_memory_in_its_heap():
    """glibc gives a fresh process an 8 MB buffer as its own mmap (fresh pages, page-faulted
    on first touch); after keep_freed_memory() (called by every job's main) it comes from the
    heap, which is never trimmed, so a pass reuses memory it has already touched."""
    out = {}
    for mode in ("default", "keep"):
        proc = subprocess.run([sys.executable, "-c", HEAP_PROBE, mode], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr[-500:]
        out[mode] = proc.stdout.strip()
    assert out == {"default": "False", "keep": "True"}


def test_evaluate_on_crafted_examples_gives_the_row_of_its_own_attack(tmp_path, mnist, natural_model):
    """A transfer substitute's white-box evaluation reads the examples craft made with the same
    attack (evaluate --adv): the same row as attacking again; a file crafted otherwise is refused."""
    import json

    import torch

    from e2sad.modelfile import save_model

    data, model = tmp_path / "mnist.pt", tmp_path / "model.pt"
    x = (mnist["x_test"][:64] * 255).round().to(torch.uint8)
    torch.save(
        {
            "dataset": "mnist",
            "x_train": x,
            "y_train": mnist["y_test"][:64],
            "x_test": x,
            "y_test": mnist["y_test"][:64],
        },
        data,
    )
    save_model(natural_model, model)
    common = ["--name", "nat", "--model", str(model), "--data", str(data), "--dataset", "mnist", "--device", "cpu"]
    common += ["--n", "48", "--batch-size", "16", "--attack-name", "ifgsm_3", "--attack", "ifgsm", "--eps", "0.3"]

    def run(cmd, *extra):
        return subprocess.run([sys.executable, "-m", "e2sad", cmd, *common, *extra], capture_output=True, text=True)

    adv = tmp_path / "adv.pt"
    assert run("craft", "--k", "3", "--out", str(adv)).returncode == 0
    rows = {}
    for how, extra in (("attacked", []), ("crafted", ["--adv", str(adv)])):
        proc = run("evaluate", "--k", "3", *extra, "--out", str(tmp_path / f"{how}.json"))
        assert proc.returncode == 0, proc.stderr
        rows[how] = json.loads((tmp_path / f"{how}.json").read_text())
        rows[how].pop("seconds")
    assert rows["crafted"] == rows["attacked"] and rows["attacked"]["accuracy"] < 0.5
    proc = run("evaluate", "--k", "2", "--adv", str(adv), "--out", str(tmp_path / "other.json"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "crafted with params {'eps': 0.3, 'k': 3}" in proc.stderr and "'k': 2" in proc.stderr


#: option of a subcommand -> the config schema's key of the same default
SCHEMA_DEFAULTS = {
    ("prepare-data", "pixel_range"): "data.*.pixel_range",
    ("train", "normalization"): "data.*.normalization",
    ("train", "device"): "compute.device",
    ("train", "precision"): "compute.precision",
    ("train", "compile"): "compute.compile",
    ("train", "schedule"): "training.*.schedule",
    ("train", "eps_warmup"): "training.*.eps_warmup",
    ("train", "ckpt_every"): "compute.ckpt_every",
    ("train", "progress_every"): "compute.progress_every",
    ("train", "log_every"): "compute.log_every",
    ("evaluate", "batch_size"): "evaluation.batch_size",
    ("surface", "n"): "figures.*.n",
    ("surface", "t_max"): "figures.*.t_max",
    ("surface", "points"): "figures.*.points",
}
MINIMAL = {
    "prepare-data": ["--dataset", "d", "--src", "s", "--out", "o"],
    "train": [
        "--dataset",
        "d",
        "--data",
        "f",
        "--defense",
        "natural",
        "--steps",
        "1",
        "--batch-size",
        "2",
        "--out",
        "o",
    ],
    "evaluate": ["--name", "m", "--model", "m.pt", "--dataset", "d", "--data", "f", "--attack", "none", "--out", "o"],
    "surface": ["--name", "m", "--model", "m.pt", "--dataset", "d", "--data", "f", "--attack", "fgsm"]
    + ["--eps", "0.3", "--out", "o"],
}


@pytest.mark.parametrize("cmd", sorted(MINIMAL))
def test_option_defaults_are_the_config_schemas(cmd):
    """An option whose default the config has too takes it from the schema (one place)."""
    from e2sad.cli import build_parser
    from e2sad.config.schema import schema_default

    args = vars(build_parser(cmd).parse_args([cmd, *MINIMAL[cmd]]))
    for (sub, dest), key in SCHEMA_DEFAULTS.items():
        if sub == cmd:
            want = schema_default(key)
            assert args[dest] == (tuple(want) if isinstance(want, list) else want), (cmd, dest, key)


def test_every_subcommand_registers_once_and_builds_its_options():
    from e2sad.cli import COMMANDS, build_parser

    assert len(COMMANDS) == 18  # 16, and convert-released, released-table (e2sad/cli/released_commands.py)
    for name in COMMANDS:
        sub = build_parser(name)._subparsers._group_actions[0].choices[name]
        flags = [s for a in sub._actions for s in a.option_strings]
        assert len(flags) == len(set(flags)), name  # an option group added twice would clash
        assert "--help" in flags and len(flags) > 2, name


@pytest.mark.parametrize(
    "argv,names",
    [
        (
            ["table", "--spec", "{not json", "--rows", "r.json", "--out-csv", "a", "--out-tex", "b", "--out-html", "c"],
            "--spec",
        ),
        (["cost-table", "--models", "m.pt", "--out-csv", "a", "--out-tex", "b"], "--out-html"),
        (["train", "--dataset", "mnist", "--data", "d.pt", "--defense", "natural", "--steps", "0"], "--steps"),
        (
            ["train", "--dataset", "mnist", "--data", "d.pt", "--defense", "pgd_at", "--eps-warmup", "1.5"],
            "--eps-warmup",
        ),
        (["prepare-data", "--dataset", "d", "--src", "s", "--out", "o", "--pixel-range", "0"], "--pixel-range"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_option(argv, names):
    proc = subprocess.run([sys.executable, "-m", "e2sad", *argv], capture_output=True, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("e2sad: error: ") and names in lines[0], lines[0]


def test_the_top_level_help_prints_every_subcommand(capsys):
    """``python -m e2sad --help`` formats every subcommand's help (a bare '%' in one broke it)."""
    import pytest

    from e2sad.cli import COMMANDS, main

    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
