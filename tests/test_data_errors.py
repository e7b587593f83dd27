"""Bad data files: ``python -m e2sad prepare-data`` exits 2 with one line
``e2sad: error: <file>: <problem>`` and writes no output file.

The files are small copies of the official formats, written in a temporary
folder (see ``helpers_data``): MNIST as gzip'd big-endian IDX, SVHN as MATLAB
``.mat`` with ``X`` 32x32x3xN uint8 and ``y`` Nx1 in 1..10.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers_data import (
    IDX_LABELS_MAGIC,
    idx_bytes,
    mnist_arrays,
    svhn_arrays,
    write_idx_gz,
    write_mnist_dir,
    write_svhn_dir,
    write_svhn_mat,
)

from e2sad.data import MNIST_FILES, SVHN_FILES

pytestmark = pytest.mark.timeout(120)


#: the declarations of config.yaml, as the workflow passes them
DECLARED = {
    "mnist": ["--format", "idx", "--channels", "1", "--size", "28", "--classes", "10"],
    "svhn": ["--format", "svhn_mat", "--channels", "3", "--size", "32", "--classes", "10"],
}


def prepare(dataset: str, src: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "e2sad", "prepare-data", "--dataset", dataset, *DECLARED[dataset], "--src", str(src)]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        timeout=100,
    )


def assert_one_line_error(proc, out: Path, bad_file: Path, *fragments: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith(f"e2sad: error: {bad_file}: "), line
    for frag in fragments:
        assert frag in line, f"{frag!r} not in {line!r}"
    assert not out.exists(), "output written despite the error"
    assert not list(out.parent.glob(f".{out.name}.*")), "temporary file left behind"
    assert not Path(f"{out}.meta.json").exists()
    return line


# --- MNIST (IDX) ------------------------------------------------------------------------------


def _truncated_gz(d: Path) -> Path:
    p = d / MNIST_FILES["train_images"]
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    return p


def _not_gzip(d: Path) -> Path:
    p = d / MNIST_FILES["train_labels"]
    p.write_bytes(idx_bytes(mnist_arrays(20)[1]))  # right content, not compressed
    return p


def _wrong_magic(d: Path) -> Path:
    # the test images written with the labels' magic number
    return write_idx_gz(d / MNIST_FILES["test_images"], mnist_arrays(10)[0], magic=IDX_LABELS_MAGIC)


def _count_mismatch(d: Path) -> Path:
    return write_idx_gz(d / MNIST_FILES["train_labels"], mnist_arrays(19)[1])


def _label_above_9(d: Path) -> Path:
    labels = mnist_arrays(20)[1]
    labels[5] = 12
    return write_idx_gz(d / MNIST_FILES["train_labels"], labels)


def _payload_short(d: Path) -> Path:
    # a valid gzip whose IDX header promises 25 images but holds 20
    return write_idx_gz(d / MNIST_FILES["train_images"], mnist_arrays(20)[0], dims=(25, 28, 28))


def _wrong_image_size(d: Path) -> Path:
    return write_idx_gz(d / MNIST_FILES["train_images"], np.zeros((20, 32, 32), np.uint8))


def _header_truncated(d: Path) -> Path:
    p = d / MNIST_FILES["test_labels"]
    with gzip.open(p, "wb") as fh:
        fh.write(b"\x00\x00")
    return p


MNIST_CASES = [
    pytest.param(_truncated_gz, ["not a readable gzip file", "re-download"], id="truncated_gz"),
    pytest.param(_not_gzip, ["not a readable gzip file", "Not a gzipped file"], id="not_gzip"),
    pytest.param(_wrong_magic, ["wrong IDX magic number 0x00000801, expected 0x00000803"], id="wrong_magic"),
    pytest.param(_count_mismatch, ["19 labels", "has 20 images", "must match"], id="count_mismatch"),
    pytest.param(_label_above_9, ["label 12 at index 5", "0..9"], id="label_above_9"),
    pytest.param(_payload_short, ["15680 bytes", "(25, 28, 28) says 19600", "truncated"], id="short_payload"),
    pytest.param(_wrong_image_size, ["images are 32x32", "28x28"], id="wrong_image_size"),
    pytest.param(_header_truncated, ["IDX header truncated (2 bytes)"], id="header_truncated"),
]


@pytest.mark.parametrize("breaker,fragments", MNIST_CASES)
def test_bad_mnist_file(tmp_path, breaker, fragments):
    src = tmp_path / "mnist"
    write_mnist_dir(src)
    bad = breaker(src)
    out = tmp_path / "out" / "mnist.pt"
    out.parent.mkdir()
    assert_one_line_error(prepare("mnist", src, out), out, bad, *fragments)


def test_missing_mnist_file(tmp_path):
    src = tmp_path / "mnist"
    write_mnist_dir(src)
    (src / MNIST_FILES["test_labels"]).unlink()
    out = tmp_path / "mnist.pt"
    assert_one_line_error(prepare("mnist", src, out), out, src, "missing: t10k-labels-idx1-ubyte.gz")


def test_valid_small_mnist_prepares(tmp_path):
    """The unbroken helper files load, so each failure above comes from its one defect."""
    src = tmp_path / "mnist"
    write_mnist_dir(src, n_train=20, n_test=10)
    out = tmp_path / "mnist.pt"
    proc = prepare("mnist", src, out)
    assert proc.returncode == 0, proc.stderr
    from e2sad.data import load_prepared

    d = load_prepared(out)
    assert tuple(d["x_train"].shape) == (20, 1, 28, 28) and tuple(d["x_test"].shape) == (10, 1, 28, 28)
    assert d["y_train"].tolist() == [i % 10 for i in range(20)]
    images = mnist_arrays(20, 0)[0]
    assert np.array_equal((d["x_train"][:, 0] * 255).round().byte().numpy(), images)


# --- SVHN (.mat) ------------------------------------------------------------------------------

X10, Y10 = svhn_arrays(10, seed=1)


def _svhn_without_x(d: Path) -> Path:
    return write_svhn_mat(d / SVHN_FILES["test"], y=Y10)


def _svhn_nchw(d: Path) -> Path:
    return write_svhn_mat(d / SVHN_FILES["test"], X=X10.transpose(3, 2, 0, 1), y=Y10)


def _svhn_grey(d: Path) -> Path:
    return write_svhn_mat(d / SVHN_FILES["test"], X=X10[:, :, 0, :], y=Y10)


def _svhn_label_0(d: Path) -> Path:
    y = Y10.copy()
    y[3] = 0
    return write_svhn_mat(d / SVHN_FILES["test"], X=X10, y=y)


def _svhn_label_11(d: Path) -> Path:
    y = Y10.copy()
    y[7] = 11
    return write_svhn_mat(d / SVHN_FILES["test"], X=X10, y=y)


def _svhn_float_x(d: Path) -> Path:
    return write_svhn_mat(d / SVHN_FILES["train"], X=X10.astype(np.float64), y=Y10)


def _svhn_count_mismatch(d: Path) -> Path:
    return write_svhn_mat(d / SVHN_FILES["train"], X=X10, y=Y10[:7])


def _svhn_not_mat(d: Path) -> Path:
    p = d / SVHN_FILES["train"]
    p.write_bytes(b"<html>404 Not Found</html>" * 10)
    return p


SVHN_CASES = [
    pytest.param(_svhn_without_x, ["variable 'X' missing"], id="no_X"),
    pytest.param(_svhn_nchw, ["X has shape 10x3x32x32, expected 32x32x3xN"], id="X_wrong_shape"),
    pytest.param(_svhn_grey, ["X has shape 32x32x10, expected 32x32x3xN"], id="X_three_dims"),
    pytest.param(_svhn_label_0, ["label 0 at index 3", "1..10"], id="label_0"),
    pytest.param(_svhn_label_11, ["label 11 at index 7", "1..10"], id="label_11"),
    pytest.param(_svhn_float_x, ["X has dtype float64, expected uint8"], id="X_float"),
    pytest.param(_svhn_count_mismatch, ["10 images but 7 labels", "must match"], id="count_mismatch"),
    pytest.param(_svhn_not_mat, ["not a readable MATLAB .mat file"], id="not_mat"),
]


@pytest.mark.parametrize("breaker,fragments", SVHN_CASES)
def test_bad_svhn_file(tmp_path, breaker, fragments):
    src = tmp_path / "svhn"
    write_svhn_dir(src)
    bad = breaker(src)
    out = tmp_path / "svhn.pt"
    assert_one_line_error(prepare("svhn", src, out), out, bad, *fragments)


def test_valid_small_svhn_loads(tmp_path):
    """A valid .mat pair: shapes (N, 3, 32, 32), label 10 becomes the digit 0, pixels in place."""
    from e2sad.data import load_prepared, load_svhn_mat

    src = tmp_path / "svhn"
    write_svhn_dir(src, n_train=12, n_test=10)
    d = load_svhn_mat(src)
    assert tuple(d["x_train"].shape) == (12, 3, 32, 32) and tuple(d["x_test"].shape) == (10, 3, 32, 32)
    assert str(d["x_train"].dtype) == "uint8"
    # labels 1..10 cycling: 10 (index 9) is the digit 0
    assert d["y_train"].tolist() == [(i % 10 + 1) % 10 for i in range(12)]
    assert d["y_test"][9].item() == 0 and d["y_test"][0].item() == 1
    X, _ = svhn_arrays(12, seed=0)
    # pixel (row r, col c, channel ch) of image n stays there
    assert d["x_train"][5, 2, 7, 11].item() == X[7, 11, 2, 5]
    assert np.array_equal(np.asarray(d["x_train"]), X.transpose(3, 2, 0, 1))

    out = tmp_path / "svhn.pt"
    proc = prepare("svhn", src, out)
    assert proc.returncode == 0, proc.stderr
    p = load_prepared(out)
    assert p["dataset"] == "svhn" and tuple(p["x_test"].shape) == (10, 3, 32, 32)
    assert float(p["x_test"].max()) <= 1.0


@pytest.mark.slow
def test_download_that_fails_is_one_line(tmp_path):
    """With download set and no files (here: no network), prepare-data stops with one line."""
    src = tmp_path / "empty"
    src.mkdir()
    out = tmp_path / "mnist.pt"
    proc = subprocess.run(
        [sys.executable, "-m", "e2sad", "prepare-data", "--dataset", "mnist", *DECLARED["mnist"], "--src", str(src)]
        + ["--download", "--torchvision", "MNIST", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=110,
    )
    if proc.returncode == 0:
        pytest.skip("this machine reached a MNIST mirror: nothing to check offline")
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("e2sad: error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "downloading MNIST failed" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
