"""Each defense and attack is declared once; the config checks, the CLI and the workflow's
command lines come from the declarations.  A test-only defense with a new hyperparameter
(tests/plugins/toy_defense.py) is accepted by all three without any other change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from helpers_data import smoke_config

from e2sad.attacks import ATTACKS
from e2sad.config.checked import check_config
from e2sad.declare import Param
from e2sad.defenses import DEFENSES
from e2sad.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
PLUGINS = REPO / "tests" / "plugins"


def plugin_env() -> dict:
    env = dict(os.environ, E2SAD_PLUGINS="toy_defense")
    env["PYTHONPATH"] = os.pathsep.join([str(PLUGINS), str(REPO), env.get("PYTHONPATH", "")])
    return env


def test_every_hyperparameter_is_declared_with_its_words():
    for registry in (DEFENSES, ATTACKS):
        for decl in registry.values():
            assert decl.paper, decl.name
            for p in decl.params:
                assert p.doc and (p.choices or p.type in (int, float)), (decl.name, p.name)


def test_schema_restates_no_hyperparameter():
    """The schema keeps the file's shape; hyperparameter names live in the declarations only."""
    schema = yaml.safe_load(SCHEMA.read_text())
    names = {p.name for r in (DEFENSES, ATTACKS) for d in r.values() for p in d.params}
    models = schema["properties"]["models"]["additionalProperties"]["properties"]
    attacks = schema["properties"]["attacks"]["additionalProperties"]["properties"]
    assert not names & set(models) and not names & set(attacks)
    text = SCHEMA.read_text()
    assert "mnist" not in text and "svhn" not in text.replace("svhn_mat", "")


@pytest.mark.parametrize(
    "param,value,ok",
    [
        (Param("eps", float, "d", lo=0, hi=1, open_lo=True), 0.3, 0.3),
        (Param("eps", float, "d", lo=0, hi=1, open_lo=True), 0, "in (0, 1]"),
        (Param("k", int, "d", lo=1), 2.5, "an integer in [1, inf)"),
        (Param("k", int, "d", lo=1), "3", "has type str, expected integer"),
        (Param("v", str, "d", choices=("a", "b")), "c", "one of a, b"),
    ],
)
def test_param_check(param, value, ok):
    if isinstance(ok, str):
        with pytest.raises(ConfigError) as info:
            param.check(value, "x")
        assert ok in str(info.value)
    else:
        assert param.check(value, "x") == ok


def test_cli_options_come_from_the_declarations():
    help_text = subprocess.run(
        [sys.executable, "-m", "e2sad", "train", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for decl in DEFENSES.values():
        for p in decl.params:
            assert p.option in help_text
    bad = subprocess.run(
        [sys.executable, "-m", "e2sad", "train", "--dataset", "d", "--data", "x.pt", "--defense", "e2sad"]
        + ["--alpha", "0.2", "--lam", "1.5", "--eps1", "0.3", "--eps2", "0.1", "--steps", "1", "--batch-size", "2"]
        + ["--out", "m.pt"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "e2sad: error: defense e2sad.lam: '1.5' is not allowed; must be in [0, 1]"
    ]


def toy_model(gamma=0.5) -> dict:
    return {"dataset": "mnist", "defense": "toy_at", "alpha": 0.5, "eps": 0.3, "gamma": gamma}


def test_toy_defense_config_check(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.setenv("E2SAD_PLUGINS", "toy_defense")
    cfg = smoke_config()
    cfg["models"]["mnist_toy_H"] = {**toy_model(), "smoothing": None, "column": "Toy", "label": "H"}
    check_config(cfg, SCHEMA, base_dir=REPO)
    cfg["models"]["mnist_toy_H"]["gamma"] = 3
    with pytest.raises(ConfigError, match=r"models.mnist_toy_H.gamma: 3 is not allowed; must be in \[0, 2\]"):
        check_config(cfg, SCHEMA, base_dir=REPO)


def test_toy_defense_trains_from_the_cli(tmp_path):
    torch.manual_seed(0)
    data = tmp_path / "d.pt"
    x = (torch.rand(16, 1, 28, 28) * 255).to(torch.uint8)
    y = torch.arange(16) % 10
    torch.save({"dataset": "d", "x_train": x, "y_train": y, "x_test": x, "y_test": y}, data)
    args = ["train", "--dataset", "d", "--data", str(data), "--defense", "toy_at", "--alpha", "0.5"]
    args += ["--eps", "0.3", "--gamma", "0.5", "--steps", "2", "--batch-size", "8", "--out", str(tmp_path / "m.pt")]
    proc = subprocess.run([sys.executable, "-m", "e2sad", *args], capture_output=True, text=True, env=plugin_env())
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((tmp_path / "m.pt.meta.json").read_text())
    assert meta["values"]["hparams"] == {"alpha": 0.5, "eps": 0.3, "gamma": 0.5}


def test_toy_defense_is_planned_by_snakemake(tmp_path):
    overlay = tmp_path / "toy.yaml"
    cfg = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    models = yaml.safe_load((REPO / "config.yaml").read_text())["tables"]["table_3_1"]["models"]
    overlay.write_text(
        yaml.safe_dump(
            {
                "results": str(tmp_path / "res"),
                "models": {"mnist_toy_H": {**toy_model(), "smoothing": None, "column": "Toy", "label": "H"}},
                "tables": {
                    "table_3_1": {**cfg.get("tables", {}).get("table_3_1", {}), "models": models + ["mnist_toy_H"]}
                },
            }
        )
    )
    proc = subprocess.run(
        ["snakemake", "--nolock", "-n", "-p", "all", "--configfile", "config/smoke.yaml", str(overlay)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=plugin_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    toy = [ln for ln in proc.stdout.splitlines() if "e2sad train --name mnist_toy_H" in ln]
    assert len(toy) == 1 and "--defense toy_at" in toy[0] and "--gamma 0.5" in toy[0]
