"""Released models (issue 30, 2c): another author's released file read by this engine exactly like a
model it trains.

Every file here is made by the test in the released format (an ``nn.Sequential`` ``state_dict`` of
Wong et al.'s ``mnist_net``, random weights): the real released files are never shipped. Checked:
the conversion gives the network they came from, output for output; every wrong file is one line
naming the file and what differs; the config's ``released`` section is checked in one line per
problem, an absent file is a note; the workflow plans the conversion and the evaluations (and
leaves a model out with a note when its file is absent); the table and the frontier's points.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from helpers_data import job_stats, smoke_config, write_mnist_dir
from torch import nn

from e2sad.cli import main
from e2sad.config.checked import check_config
from e2sad.data import load_prepared
from e2sad.defenses import step_flops
from e2sad.errors import ConfigError, DataError
from e2sad.flops import network_pass_flops
from e2sad.modelfile import load_model
from e2sad.plan import Plan, load_study
from e2sad.released import RELEASES, convert_released, released_model
from e2sad.science.released import released_frontier_points, released_table, render_released

REPO = Path(__file__).resolve().parents[1]
RELEASE = "wong2020_mnist_net"
NAMES = ("wong2020_fgsm_rs_released", "wong2020_pgd_madry_released")


class _Flatten(nn.Module):
    def forward(self, x):
        return x.view(x.size(0), -1)


def mnist_net() -> nn.Sequential:
    """Wong et al.'s MNIST network as their MNIST/mnist_net.py builds it (an nn.Sequential)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 4, stride=2, padding=1),
        nn.ReLU(),
        _Flatten(),
        nn.Linear(32 * 7 * 7, 100),
        nn.ReLU(),
        nn.Linear(100, 10),
    )


def released_file(path: Path, seed: int = 0, legacy: bool = False) -> nn.Sequential:
    """A file in their format (torch.save of the Sequential's state_dict), random weights."""
    torch.manual_seed(seed)
    net = mnist_net().eval()
    torch.save(net.state_dict(), path, _use_new_zipfile_serialization=not legacy)
    return net


def _their_state(tmp_path) -> dict:
    path = tmp_path / "theirs.pth"
    released_file(path)
    return torch.load(path, weights_only=True)


# ---- the conversion


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_converted_file_gives_the_network_it_came_from(tmp_path, legacy):
    """Their Sequential and the converted wong2020_mnist give identical outputs (the released files
    are torch's legacy format: both are read)."""
    theirs = released_file(tmp_path / "m.pth", seed=1, legacy=legacy)
    ours = released_model(tmp_path / "m.pth", RELEASE)
    x = torch.rand(64, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x))
    state = convert_released(tmp_path / "m.pth", RELEASE)
    assert set(state) == set(RELEASES[RELEASE].build().state_dict())
    assert state["classifier.1.weight"].shape == (100, 1568)


def test_convert_command_writes_a_model_file_that_evaluate_reads(tmp_path):
    """convert-released writes this engine's model file with its provenance sidecar; load_model and
    `evaluate` read it as a trained model: the accuracy is their network's on the same images."""
    theirs = released_file(tmp_path / "m.pth", seed=2)
    out = tmp_path / "model.pt"
    assert main(["convert-released", "--release", RELEASE, "--pth", str(tmp_path / "m.pth"), "--out", str(out)]) == 0
    side = json.loads(Path(f"{out}.meta.json").read_text())
    assert side["released"]["release"] == RELEASE and len(side["released"]["sha256"]) == 64
    fmt = RELEASES[RELEASE]
    model = load_model(out, fmt.network, fmt.normalization, (1, 28, 28), 10)
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(x), theirs(x))

    write_mnist_dir(tmp_path / "mnist", n_train=20, n_test=30)
    data = tmp_path / "mnist.pt"
    assert main(["prepare-data", "--dataset", "mnist", "--src", str(tmp_path / "mnist"), "--out", str(data)]) == 0
    row = tmp_path / "clean.json"
    argv = ["evaluate", "--name", "r", "--model", str(out), "--dataset", "mnist", "--network", fmt.network]
    argv += ["--data", str(data), "--attack", "none", "--attack-name", "clean", "--device", "cpu", "--out", str(row)]
    assert main(argv) == 0
    test = load_prepared(data, splits=("test",))
    with torch.no_grad():
        expected = float((theirs(test["x_test"]).argmax(1) == test["y_test"]).float().mean())
    assert json.loads(row.read_text())["accuracy"] == pytest.approx(expected)


def _text(path, tmp):
    path.write_text("<html>not found</html>\n")


def _no_keys(path, tmp):
    torch.save({"weight": torch.zeros(3)}, path)


def _wrong_shape(path, tmp):
    state = _their_state(tmp)
    state["5.weight"] = torch.zeros(100, 1000)
    torch.save(state, path)


def _extra_key(path, tmp):
    state = _their_state(tmp)
    state["9.weight"] = torch.zeros(3)
    torch.save(state, path)


def _missing_key(path, tmp):
    state = _their_state(tmp)
    del state["7.bias"]
    torch.save(state, path)


def _not_a_dict(path, tmp):
    torch.save(torch.zeros(3), path)


def _integer_tensor(path, tmp):
    state = _their_state(tmp)
    state["0.bias"] = torch.zeros(16, dtype=torch.long)
    torch.save(state, path)


# (id, how the wrong file is made, fragments of the one line)
WRONG = [
    ("text_file", _text, ["not a torch file"]),
    ("dict_without_the_keys", _no_keys, ["holds none of a wong2020_mnist_net file's keys", "0.weight", "weight"]),
    ("wrong_shape", _wrong_shape, ["5.weight has shape (100, 1000)", "classifier.1.weight needs (100, 1568)"]),
    ("extra_key", _extra_key, ["key '9.weight'", "not one of a wong2020_mnist_net file's keys"]),
    ("missing_key", _missing_key, ["key '7.bias'", "is missing"]),
    ("not_a_dict", _not_a_dict, ["is a state_dict", "holds a Tensor"]),
    ("integer_tensor", _integer_tensor, ["0.bias holds a torch.int64 tensor", "features.0.bias needs a float tensor"]),
]


@pytest.mark.parametrize("make, fragments", [c[1:] for c in WRONG], ids=[c[0] for c in WRONG])
def test_a_wrong_file_is_one_line_naming_what_differs(tmp_path, make, fragments):
    path = tmp_path / "wrong.pth"
    make(path, tmp_path)
    with pytest.raises(DataError) as exc:
        convert_released(path, RELEASE)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(str(path)), msg
    for f in fragments:
        assert f in msg, msg


def test_an_unknown_release_format_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="release format 'nope' is not known; known: wong2020_mnist_net"):
        convert_released(tmp_path / "x.pth", "nope")


def test_the_command_line_says_a_wrong_file_in_one_line(tmp_path):
    """A wrong shape through `python -m e2sad convert-released`: exit 2, one stderr line, no traceback,
    no model file."""
    path = tmp_path / "wrong.pth"
    _wrong_shape(path, tmp_path)
    out = tmp_path / "model.pt"
    cmd = [sys.executable, "-m", "e2sad", "convert-released", "--release", RELEASE, "--pth", str(path)]
    proc = subprocess.run([*cmd, "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"e2sad: error: {path}: 5.weight has shape (100, 1000)"), lines[0]
    assert "Traceback" not in proc.stderr and not out.exists()


# ---- the config


def released_config(tmp_path, present=NAMES) -> dict:
    """The smoke config with config/released.yaml's section, its files made under tmp_path (those of
    ``present``; the others point where nothing is)."""
    cfg = smoke_config()
    section = yaml.safe_load((REPO / "config" / "released.yaml").read_text())["released"]
    for name, r in section["models"].items():
        r["file"] = str(tmp_path / f"{name}.pth")
        if name in present:
            released_file(Path(r["file"]))
    cfg["released"] = section
    cfg["results"] = str(tmp_path / "res")
    return cfg


def _entry(cfg, name=NAMES[1]):
    return cfg["released"]["models"][name]


# (id, mutation of the released config, fragments of the one line)
CONFIG_CASES = [
    (
        "unknown_release_format",
        lambda c: _entry(c).update(release="nope"),
        ["released.models.wong2020_pgd_madry_released.release", "'nope'", "known: wong2020_mnist_net"],
    ),
    (
        "unknown_dataset",
        lambda c: _entry(c).update(dataset="cifar10"),
        ["released.models.wong2020_pgd_madry_released.dataset", "'cifar10'", "not declared under data"],
    ),
    (
        "dataset_not_run",
        lambda c: _entry(c).update(dataset="svhn"),
        ["released.models.wong2020_pgd_madry_released.dataset", "'svhn' is not one of datasets"],
    ),
    (
        "dataset_of_another_shape",
        lambda c: (_entry(c).update(dataset="svhn"), c.update(datasets=["mnist", "svhn"])),
        ["released.models.wong2020_pgd_madry_released.dataset", "3x32x32", "takes 1x28x28"],
    ),
    (
        "unknown_defense",
        lambda c: _entry(c).update(defense="free_at"),
        ["released.models.wong2020_pgd_madry_released.defense", "'free_at'", "pgd_at"],
    ),
    (
        "missing_hyperparameter",
        lambda c: _entry(c).pop("k"),
        ["released.models.wong2020_pgd_madry_released.k: missing", "pgd_at"],
    ),
    (
        "unknown_key",
        lambda c: _entry(c).update(epochs=100),
        ["released.models.wong2020_pgd_madry_released.epochs", "unknown key"],
    ),
    (
        "unknown_published",
        lambda c: _entry(c).update(published="madry2018"),
        ["released.models.wong2020_pgd_madry_released.published", "'madry2018'", "wong2020_fgsm_rs"],
    ),
    (
        "published_of_another_defense",
        lambda c: _entry(c).update(published="wong2020_fgsm_rs"),
        ["released.models.wong2020_pgd_madry_released.published", "is a fgsm_rs result", "pgd_at"],
    ),
    (
        "unknown_attack",
        lambda c: c["released"]["attacks"].append("pgd_ghost"),
        ["released.attacks.3", "'pgd_ghost'", "not declared under attacks"],
    ),
    ("no_attack", lambda c: c["released"].update(attacks=[]), ["released.attacks: empty"]),
    (
        "schema_missing_key",
        lambda c: _entry(c).pop("release"),
        ["released.models.wong2020_pgd_madry_released.release: missing"],
    ),
]


@pytest.mark.parametrize("mutate, fragments", [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_a_bad_released_section_is_one_line(tmp_path, mutate, fragments):
    cfg = released_config(tmp_path)
    assert check_config(copy.deepcopy(cfg), base_dir=REPO) == []  # the section as shipped is clean
    mutate(cfg)
    with pytest.raises(ConfigError) as exc:
        load_study(cfg, base_dir=REPO)  # the config check, and the plan's check of `published`
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("config: "), msg
    for f in fragments:
        assert f in msg, msg


def test_an_absent_file_is_a_note_and_leaves_its_model_out(tmp_path):
    cfg = released_config(tmp_path, present=NAMES[:1])
    notes = check_config(copy.deepcopy(cfg), base_dir=REPO)
    assert len(notes) == 1 and "\n" not in notes[0], notes
    assert notes[0].startswith(f"released model {NAMES[1]} left out: {tmp_path / NAMES[1]}.pth not found")
    plan = Plan.of(load_study(cfg, base_dir=REPO))
    assert plan.released.active() == [NAMES[0]]
    assert plan.released.inputs() == [plan.released.eval_file(NAMES[0], a) for a in cfg["released"]["attacks"]]


def test_the_default_is_no_released_model():
    plan = Plan.of(load_study(smoke_config(), base_dir=REPO))
    assert plan.released.declared() == {} and plan.released.targets() == []
    assert "released" not in plan.specs.frontier_spec()  # the frontier's spec (and its hash) as before


# ---- the plan: commands, table, frontier points


def test_the_evaluations_read_the_release_network_on_the_released_images(tmp_path):
    cfg = released_config(tmp_path)
    plan = Plan.of(load_study(cfg, base_dir=REPO))
    args = plan.commands.released_eval_args(NAMES[0])
    assert "--dataset mnist --network wong2020_mnist --normalization none" in args
    assert "--batch-size 500" in args and "--n " not in args  # n_test null: all 10,000 test images
    assert plan.commands.attack_args("autoattack_0.3").startswith("--attack autoattack --eps 0.3")
    spec = plan.released.spec()
    fgsm = spec["model_info"][NAMES[0]]
    assert fgsm["published"] == {"clean": 0.985, "pgd50x10_0.3": 0.8877, "autoattack_0.3": 0.8288}
    assert spec["model_info"][NAMES[1]]["published"] == {} and spec["models"] == list(NAMES)


def test_the_frontier_spec_carries_the_released_models_at_their_recipes_flops(tmp_path):
    cfg = released_config(tmp_path)
    plan = Plan.of(load_study(cfg, base_dir=REPO))
    points = {p["key"]: p for p in plan.specs.frontier_spec()["released"]}
    passes = network_pass_flops("wong2020_mnist", 1, 28, 10)
    fgsm, pgd = points[NAMES[0]], points[NAMES[1]]
    assert fgsm["protocol"] == pgd["protocol"] == "released"
    hp = {"eps": 0.3, "alpha": 0.375, "start_clip": "none", "step_clip": "ball_range"}
    assert fgsm["train_flops"] == pytest.approx(6000 * 100 * step_flops("fgsm_rs", hp, passes))
    assert pgd["train_flops"] == pytest.approx(120000 * 50 * step_flops("pgd_at", {"eps": 0.3, "k": 40}, passes))
    # the frontier reads the released rows under its robust attack that exist now
    robust = cfg["frontier"]["robust"]
    assert plan.released.frontier_rows(robust) == []
    row = Path(plan.released.eval_file(NAMES[0], robust))
    row.parent.mkdir(parents=True)
    row.write_text(json.dumps({"model": NAMES[0], "attack_name": robust, "accuracy": 0.83, "n": 10000}))
    assert plan.released.frontier_rows(robust) == [str(row)]
    drawn = released_frontier_points(pd.DataFrame([json.loads(row.read_text())]), plan.specs.frontier_spec())
    assert [p["key"] for p in drawn] == [NAMES[0]] and drawn[0]["lo"] < 0.83 < drawn[0]["hi"]


def test_the_frontier_figure_draws_a_released_point(tmp_path):
    """plot_frontier draws each released point it is given (labelled as released) and still writes
    the figure when a frontier has nothing else to draw."""
    from e2sad.science.frontier.figure import plot_frontier

    spec = {"title": "t", "robust": "autoattack_0.3", "attack_labels": {}, "published": []}
    point = {"key": "r", "label": "R", "train_flops": 3.6e12, "accuracy": 0.83, "lo": 0.82, "hi": 0.84, "n": 10000}
    df = pd.DataFrame(columns=["protocol", "defense", "train_flops", "column", "trained_as"])
    png = tmp_path / "f.png"
    plot_frontier(df, {**spec, "released": [point]}, [str(png)], [point])
    assert png.stat().st_size > 0


def test_the_table_gives_wilson_intervals_beside_the_published_numbers(tmp_path):
    spec = {
        "title": "Released",
        "models": ["a", "b"],
        "attacks": ["clean", "autoattack_0.3"],
        "attack_labels": {"clean": "Clean data", "autoattack_0.3": "AutoAttack eps=0.3"},
        "model_info": {
            "a": {"label": "A", "release": RELEASE, "published": {"clean": 0.985, "autoattack_0.3": 0.8288}},
            "b": {"label": "B", "release": RELEASE, "published": {}},
        },
        "published_n": None,
        "n_test": None,
        "note": "a note",
    }
    spec["model_info"]["a"]["published_n"] = 10000
    rows = pd.DataFrame(
        [
            {"model": "a", "attack_name": "clean", "accuracy": 0.985, "n": 10000},
            {
                "model": "a",
                "attack_name": "autoattack_0.3",
                "accuracy": 0.8291,
                "n": 10000,
                # as evaluate writes them: every check of the reference AutoAttack, raised or not
                "aa_flags": {"square_beats_gradient_attacks": True, "zero_gradients": False},
            },
            {"model": "b", "attack_name": "clean", "accuracy": 0.9899, "n": 10000},
        ]
    )
    tidy = released_table(rows, spec)
    a = tidy.set_index(["model", "attack_name"])
    assert a.loc[("a", "clean"), "inside"] and a.loc[("a", "autoattack_0.3"), "diff"] == pytest.approx(0.0003)
    assert a.loc[("a", "autoattack_0.3"), "flags"] == "square_beats_gradient_attacks"  # the raised ones
    lo, hi = a.loc[("b", "clean"), ["lo", "hi"]]
    assert 0.987 < lo < 0.9899 < hi < 0.992  # Wilson at n = 10,000
    assert a.loc[("b", "clean"), "inside"] is None and pd.isna(a.loc[("b", "autoattack_0.3"), "accuracy"])
    outs = [tmp_path / f"t.{e}" for e in ("csv", "tex", "html")]
    render_released(tidy, spec, *outs)
    html = outs[2].read_text()
    assert "not published" in html and "not run" in html and "98.99" in html and "[98.77, 99.17]" in html


# ---- the workflow


def smk(*args):
    proc = subprocess.run(["snakemake", "--nolock", *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _overlay(tmp_path, present) -> Path:
    o = {"results": str(tmp_path / "res"), "released": {"models": {}}}
    for name in NAMES:
        f = tmp_path / f"{name}.pth"
        if name in present:
            released_file(f)
        o["released"]["models"][name] = {"file": str(f)}
    path = tmp_path / "o.yaml"
    path.write_text(yaml.safe_dump(o))
    return path


def test_the_released_target_converts_and_evaluates_each_supplied_file(tmp_path):
    """Each supplied file: one conversion, one evaluation per attack (on the release's network), one
    table; every command line parses with its subcommand."""
    from test_workflow import planned_e2sad_commands

    from e2sad.cli import build_parser

    overlay = str(_overlay(tmp_path, NAMES))
    out = smk("-n", "-p", "released", "--configfile", "config/smoke.yaml", "config/released.yaml", overlay)
    stats = job_stats(out)
    assert stats["convert_released"] == 2 and stats["released_evaluate"] == 2 * 3 and stats["released_table"] == 1
    assert "left out" not in out
    argvs = [a for a in planned_e2sad_commands(out) if a[0] != "prepare-data"]
    assert {a[0] for a in argvs} == {"convert-released", "evaluate", "released-table"}
    for argv in argvs:
        args = build_parser(argv[0]).parse_args(argv)
        if argv[0] == "evaluate":
            assert args.network == "wong2020_mnist" and args.normalization == "none" and args.n is None


def test_the_released_target_leaves_an_absent_file_out_with_a_note(tmp_path):
    out = smk(
        "-n", "released", "--configfile", "config/smoke.yaml", "config/released.yaml", str(_overlay(tmp_path, ()))
    )
    notes = [ln for ln in out.splitlines() if "left out" in ln]
    assert len(notes) == 2 and all(ln.startswith("e2sad: note: released model ") for ln in notes), notes
    assert "convert_released" not in job_stats(out) and "released_evaluate" not in out
