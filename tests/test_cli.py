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
