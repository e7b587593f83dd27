"""Any dataset's classes and size (issue 25): a dataset declared by config alone, with 5 classes
and 24x24 images (MNIST's digits 0-4, cropped), runs H and S models through training, evaluation
(APGD-T and AutoAttack included), transfer and a table; a number of images the data does not have
is one line naming the key, at plan time (from the files' headers) and in the job that reads the
data.  Smoke size: the numbers are not results."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_data import REPO, smoke_config, write_idx_dir, write_mnist_dir, write_svhn_dir

from e2sad.attacks import ATTACKS
from e2sad.cli import main
from e2sad.data import check_sizes, dataset_sizes, load_prepared, require_size
from e2sad.defenses import DEFENSES
from e2sad.errors import ConfigError
from e2sad.evaluate import first_n
from e2sad.models import output_classes
from e2sad.serialization import safe_load

pytestmark = pytest.mark.timeout(300)

#: the dataset, declared as a config's ``data.<name>`` (the fixture adds ``src``)
DIGITS5 = {
    "format": "idx",
    "channels": 1,
    "size": 24,
    "classes": 5,
    "pixel_range": [0, 255],
    "network": "cnn_a1",
    "normalization": "none",
}
N_TRAIN, N_TEST, N_EVAL = 320, 64, 16
#: an H and an S model of it, as the config's ``models`` declares them
MODELS = {
    "digits5_natural_H": {"defense": "natural", "smoothing": None, "column": "Natural", "label": "H"},
    "digits5_e2sad_S": {
        "defense": "e2sad",
        **{"alpha": 0.2, "lam": 0.1, "eps1": 0.3, "eps2": 0.1},
        **{"smoothing": 0.75, "column": "e2SAD", "label": "S"},
    },
}
#: the attacks of its table, as the config's ``attacks`` declares them (few iterations: smoke size).
#: APGD-T leaves some points of the S model at eps 0.3, so it tries every target class; AutoAttack
#: at 0.5 leaves none to Square's 5,000 queries (its targets: tests/test_attacks.py)
ATTACK_DECLS = {
    "clean": {"kind": "none", "label": "Clean data"},
    "apgd_t_0.3": {"kind": "apgd_t", "eps": 0.3, "steps": 3, "restarts": 1, "seed": 0, "label": "APGD-T"},
    "autoattack_0.5": {"kind": "autoattack", "eps": 0.5, "steps": 3, "seed": 0, "label": "AutoAttack"},
}
META = ("kind", "label", "defense", "smoothing", "column")


def _options(registry, name: str, decl: dict) -> list[str]:
    """The declared hyperparameters of ``decl`` as command-line options (as the plan writes them)."""
    params = {k: v for k, v in decl.items() if k not in META}
    return " ".join(registry.cli_args(name, params)).split()


def _net(decl: dict) -> list[str]:
    return ["--dataset", "digits5", "--network", decl["network"], "--normalization", decl["normalization"]]


@pytest.fixture(scope="module")
def digits5(mnist, tmp_path_factory) -> dict:
    """The declaration with ``src``: IDX files of MNIST's first digits 0-4, cropped 28 -> 24."""
    folder = tmp_path_factory.mktemp("digits5")
    arrays = []
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        keep = torch.nonzero(mnist[f"y_{split}"] < 5).flatten()[:n]
        x = (mnist[f"x_{split}"][keep, 0, 2:26, 2:26] * 255).round().to(torch.uint8)
        arrays += [x.numpy(), mnist[f"y_{split}"][keep].numpy().astype(np.uint8)]
    write_idx_dir(folder, *arrays)
    return {**DIGITS5, "src": str(folder)}


@pytest.fixture(scope="module")
def prepared(digits5, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "digits5.pt"
    d = digits5
    args = ["prepare-data", "--dataset", "digits5", "--format", d["format"], "--src", d["src"]]
    args += ["--channels", str(d["channels"]), "--size", str(d["size"]), "--classes", str(d["classes"])]
    args += ["--pixel-range", *map(str, d["pixel_range"]), "--out", str(out)]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def trained(digits5, prepared, tmp_path_factory) -> dict[str, Path]:
    """The H and the S model, trained 6 steps of batch 32 (S: label smoothing over the 5 classes)."""
    folder = tmp_path_factory.mktemp("models")
    out = {}
    for name, m in MODELS.items():
        out[name] = folder / f"{name}.pt"
        args = ["train", "--name", name, "--data", str(prepared), *_net(digits5), "--defense", m["defense"]]
        args += [*_options(DEFENSES, m["defense"], m), "--smoothing", str(m["smoothing"] or "none")]
        args += ["--steps", "6", "--batch-size", "32", "--device", "cpu", "--progress-every", "0"]
        assert main([*args, "--out", str(out[name])]) == 0, name
    return out


def test_h_and_s_models_of_a_5_class_24px_dataset_train_evaluate_transfer_and_tabulate(
    digits5, prepared, trained, tmp_path
):
    data = load_prepared(prepared, splits=("test",))
    assert data["classes"] == 5 and tuple(data["x_test"].shape) == (N_TEST, 1, 24, 24)
    for path in trained.values():
        assert output_classes(safe_load(path)) == 5  # the network's classes are the declaration's

    rows = []
    for name, path in trained.items():
        for aname, a in ATTACK_DECLS.items():
            rows.append(tmp_path / f"{name}-{aname}.json")
            args = ["evaluate", "--name", name, "--model", str(path), *_net(digits5), "--data", str(prepared)]
            args += ["--n", str(N_EVAL), "--batch-size", str(N_EVAL), "--device", "cpu"]
            args += ["--attack", a["kind"], "--attack-name", aname, *_options(ATTACKS, a["kind"], a)]
            assert main([*args, "--out", str(rows[-1])]) == 0, (name, aname)
    acc = {(r["model"], r["attack_name"]): r["accuracy"] for r in map(json.loads, (p.read_text() for p in rows))}
    for name in trained:
        assert 0 <= acc[(name, "autoattack_0.5")] <= acc[(name, "clean")] <= 1
        assert acc[(name, "apgd_t_0.3")] <= acc[(name, "clean")]

    # transfer: examples crafted on the H model, read by the S model (its classes from its file)
    adv, h, s = tmp_path / "adv.pt", *trained.items()
    common = [*_net(digits5), "--data", str(prepared), "--n", str(N_EVAL), "--device", "cpu"]
    args = ["craft", "--name", h[0], "--model", str(h[1]), *common, "--attack", "fgsm", "--eps", "0.3"]
    assert main([*args, "--out", str(adv)]) == 0
    transfer = tmp_path / "transfer.json"
    args = ["evaluate-transfer", "--name", s[0], "--model", str(s[1]), *_net(digits5), "--adv", str(adv)]
    assert main([*args, "--device", "cpu", "--out", str(transfer)]) == 0
    assert json.loads(transfer.read_text())[0]["n"] == N_EVAL

    spec = {
        "name": "digits5_whitebox",
        "kind": "whitebox",
        "title": "5 classes, 24x24: accuracy under white-box attacks",
        "rows": list(ATTACK_DECLS),
        "row_labels": {k: a["label"] for k, a in ATTACK_DECLS.items()},
        "models": list(MODELS),
        "model_info": {k: {"column": m["column"], "label": m["label"]} for k, m in MODELS.items()},
    }
    outs = [tmp_path / f"t.{ext}" for ext in ("csv", "tex", "html")]
    args = ["table", "--spec", json.dumps(spec), "--rows", *map(str, rows)]
    assert main([*args, "--out-csv", str(outs[0]), "--out-tex", str(outs[1]), "--out-html", str(outs[2])]) == 0
    with open(outs[0]) as fh:
        cells = list(csv.DictReader(fh))
    assert len(cells) == len(ATTACK_DECLS) * len(MODELS) and {c["n"] for c in cells} == {str(N_EVAL)}
    assert {c["label"] for c in cells} == {"H", "S"}


# ---- sizes


def test_dataset_sizes_read_the_files_headers(digits5, tmp_path):
    assert dataset_sizes(digits5) == {"train": N_TRAIN, "test": N_TEST}
    write_mnist_dir(tmp_path / "idx", n_train=20, n_test=10)
    assert dataset_sizes({"format": "idx", "src": "idx"}, tmp_path) == {"train": 20, "test": 10}
    write_svhn_dir(tmp_path / "svhn", n_train=12, n_test=10)
    assert dataset_sizes({"format": "svhn_mat", "src": ["none", "svhn"]}, tmp_path) == {"train": 12, "test": 10}
    (tmp_path / "npz").mkdir()
    for split, n in (("train", 7), ("test", 3)):
        np.savez(tmp_path / "npz" / f"{split}.npz", x=np.zeros((n, 8, 8), np.uint8), y=np.zeros(n, np.int64))
    assert dataset_sizes({"format": "npz", "src": "npz"}, tmp_path) == {"train": 7, "test": 3}
    # unknown: absent (to be downloaded), unreadable (prepare-data says why)
    assert dataset_sizes({"format": "idx", "src": "absent", "download": True}, tmp_path) is None
    (tmp_path / "idx" / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    assert dataset_sizes({"format": "idx", "src": "idx"}, tmp_path) is None


def test_plan_time_sizes_pass_for_the_smoke_config_and_mnist_at_its_full_size():
    cfg = smoke_config()
    check_sizes(cfg, REPO)
    cfg["evaluation"]["n_test"], cfg["training"]["mnist"]["batch_size"] = 10000, 60000
    check_sizes(cfg, REPO)


@pytest.mark.parametrize(
    "key, value, split",
    [
        ("evaluation.n_test", 50000, "test"),
        ("training.mnist.batch_size", 100000, "train"),
        ("robustness.n_test", 10001, "test"),
        ("sanity.n_test", 10001, "test"),
        ("frontier.n_test", 10001, "test"),
        ("frontier.snapshot_n_test", 10001, "test"),
        ("figures.figure_3_3.n", 10001, "test"),
        ("frontier.recipes.mnist_fgsm_rs_H.batch_size", 60001, "train"),
    ],
)
def test_plan_time_size_beyond_the_data_is_one_line_naming_the_key(key, value, split):
    cfg = smoke_config()
    *parents, last = key.split(".")
    section = cfg
    for p in parents:
        section = section[p]
    section[last] = value
    have = {"train": "60000 training", "test": "10000 test"}[split]
    with pytest.raises(ConfigError) as err:
        check_sizes(cfg, REPO)
    assert str(err.value) == f"config: {key}: {value} exceeds the {have} images of mnist"


def test_plan_time_sizes_of_a_dataset_declared_by_config(digits5):
    cfg = {"datasets": ["digits5"], "data": {"digits5": digits5}, "evaluation": {"n_test": N_TEST}}
    cfg["training"] = {"digits5": {"batch_size": N_TRAIN}}
    check_sizes(cfg)
    cfg["evaluation"]["n_test"] = N_TEST + 1
    with pytest.raises(
        ConfigError, match=rf"^config: evaluation.n_test: 65 exceeds the {N_TEST} test images of digits5$"
    ):
        check_sizes(cfg)
    cfg["datasets"] = []  # a dataset the study does not run is not checked
    check_sizes(cfg)


def test_job_time_sizes_beyond_the_prepared_data_are_one_line(prepared):
    data = load_prepared(prepared)
    x, y = first_n(data, N_TEST)
    assert x.shape[0] == y.shape[0] == N_TEST and first_n(data, None)[0].shape[0] == N_TEST
    with pytest.raises(ConfigError, match=r"^--n: 65 exceeds the 64 test images of digits5$"):
        first_n(data, N_TEST + 1)
    require_size(data, "train", N_TRAIN, "--batch-size")
    with pytest.raises(ConfigError, match=r"^--batch-size: 321 exceeds the 320 training images of digits5$"):
        require_size(data, "train", N_TRAIN + 1, "--batch-size")


@pytest.mark.parametrize("cmd", ["evaluate", "train"])
def test_job_asking_more_images_than_the_data_has_exits_with_one_line(digits5, prepared, trained, tmp_path, cmd):
    """The evaluation's ``--n`` and the training's ``--batch-size`` beyond the prepared data: exit 2
    and one line naming the size, never a silent cap (the CLI takes its images with first_n /
    require_size)."""
    if cmd == "evaluate":
        model = trained["digits5_natural_H"]
        args = ["evaluate", "--name", "m", "--model", str(model), "--attack", "none", "--n", str(N_TEST + 1)]
        want = f"{N_TEST + 1} exceeds the {N_TEST} test images"
    else:
        args = ["train", "--defense", "natural", "--steps", "1", "--batch-size", str(N_TRAIN + 1)]
        want = f"{N_TRAIN + 1} exceeds the {N_TRAIN} training images"
    args += [*_net(digits5), "--data", str(prepared), "--device", "cpu", "--out", str(tmp_path / "out")]
    proc = subprocess.run([sys.executable, "-m", "e2sad", *args], capture_output=True, text=True, timeout=120)
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1, (proc.returncode, lines)
    assert lines[0].startswith("e2sad: error: ") and want in lines[0], lines[0]
