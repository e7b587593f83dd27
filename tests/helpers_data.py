"""Small data files in the official formats, for tests.

MNIST: gzip'd IDX files (big-endian header: magic 0x00000803 for images,
0x00000801 for labels, then one uint32 per dimension, then the bytes).
SVHN: MATLAB ``.mat`` files with ``X`` (32x32x3xN uint8) and ``y`` (Nx1, labels
1..10 where 10 is the digit 0).

Every writer can be told to break one thing (magic, counts, payload length) so
tests can build exactly the bad file they need.
"""

from __future__ import annotations

import copy
import functools
import gzip
import re
import struct
from pathlib import Path

import numpy as np

from e2sad.data import MNIST_FILES, SVHN_FILES

IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801


def idx_bytes(array: np.ndarray, magic: int | None = None, dims: tuple[int, ...] | None = None) -> bytes:
    """Raw (uncompressed) IDX bytes of a uint8 array; ``magic``/``dims`` override the header."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x00000800 | array.ndim
    dims = tuple(array.shape) if dims is None else tuple(dims)
    header = struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims)
    return header + array.tobytes()


def write_idx_gz(path: str | Path, array: np.ndarray, **kw) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as fh:
        fh.write(idx_bytes(array, **kw))
    return path


def mnist_arrays(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def write_mnist_dir(directory: str | Path, n_train: int = 20, n_test: int = 10, seed: int = 0) -> dict[str, Path]:
    """A valid MNIST folder (four ``.gz`` IDX files) of random images; returns the paths by role."""
    directory = Path(directory)
    paths = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = mnist_arrays(n, seed + (split == "test"))
        paths[f"{split}_images"] = write_idx_gz(directory / MNIST_FILES[f"{split}_images"], images)
        paths[f"{split}_labels"] = write_idx_gz(directory / MNIST_FILES[f"{split}_labels"], labels)
    return paths


def svhn_arrays(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """X 32x32x3xN uint8 and y Nx1 with labels cycling through 1..10."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
    y = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(n, 1)
    return X, y


def write_svhn_mat(path: str | Path, **variables) -> Path:
    from scipy.io import savemat

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(str(path), variables)
    return path


def write_svhn_dir(directory: str | Path, n_train: int = 12, n_test: int = 10, seed: int = 0) -> dict[str, Path]:
    """A valid SVHN folder (``train_32x32.mat``, ``test_32x32.mat``); returns the paths by split."""
    directory = Path(directory)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        X, y = svhn_arrays(n, seed + (split == "test"))
        out[split] = write_svhn_mat(directory / SVHN_FILES[split], X=X, y=y)
    return out


REPO = Path(__file__).resolve().parents[1]


@functools.cache
def _smoke_config() -> dict:
    import yaml
    from snakemake.utils import update_config

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(cfg, yaml.safe_load((REPO / "config" / "smoke.yaml").read_text()))
    return cfg


def smoke_config() -> dict:
    """config.yaml overridden by config/smoke.yaml, as Snakemake merges them (a fresh copy)."""
    return copy.deepcopy(_smoke_config())


def job_stats(out: str) -> dict[str, int]:
    """Job counts from the "Job stats:" block of a Snakemake dry run."""
    block = out.split("Job stats:", 1)[1]
    stats = {}
    for line in block.splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m:
            break
        stats[m.group(1)] = int(m.group(2))
    return stats


def write_idx_dir(directory: str | Path, x_train, y_train, x_test, y_test) -> dict[str, Path]:
    """The four MNIST-named IDX ``.gz`` files of given uint8 images (N, H, W) and labels (N,)."""
    directory = Path(directory)
    arrays = {"train_images": x_train, "train_labels": y_train, "test_images": x_test, "test_labels": y_test}
    return {role: write_idx_gz(directory / MNIST_FILES[role], a) for role, a in arrays.items()}
