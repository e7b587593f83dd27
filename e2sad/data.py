"""Datasets: MNIST from IDX ``.gz`` files, SVHN from the official ``.mat`` files.

Both are converted once to a small ``.pt`` file of uint8 tensors (``prepare``),
which training, attacks and evaluation load straight onto the compute device
(``load_prepared``): no DataLoader, no per-step host work.

Every file is read and checked with numpy first; torch is imported only once
all of them passed, so a bad file is reported in about a second.

Pixel space.  Every attack and every ``eps`` in this project lives in pixel
space [0, 1] (the paper: "each pixel value is normalized to be within [0, 1]").
SVHN's per-image normalization (paper, 3.3.2: "removing the mean and
normalizing the pixel values with the standard deviation of all pixels in each
image so that the normalized pixel values are within [-1, 1]") is the first
layer of the SVHN model (:class:`e2sad.models.PerImageNormalize`), so
eps = 24/255 is measured in [0, 1] pixel units, clipping keeps images valid,
and the gradient flows through the normalization.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import torch

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
DATASETS = ("mnist", "svhn")

_IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}


def read_idx(path: str | Path, ndim: int) -> torch.Tensor:
    """Read a gzip IDX file of unsigned bytes with ``ndim`` dimensions.

    The header (magic number, dimensions) and the payload length are checked;
    the md5 is not (a local mirror may be rebuilt, see ``shared/data/README``).
    """
    import torch

    return torch.from_numpy(read_idx_array(path, ndim))


def read_idx_array(path: str | Path, ndim: int) -> np.ndarray:
    """:func:`read_idx` as a numpy uint8 array (no torch import)."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected an IDX .gz file)")
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a readable gzip file ({exc}); re-download it") from None
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: IDX header truncated ({len(raw)} bytes)")
    (magic,) = struct.unpack(">I", raw[:4])
    if magic != _IDX_MAGIC[ndim]:
        raise DataError(
            f"{path}: wrong IDX magic number 0x{magic:08x}, expected 0x{_IDX_MAGIC[ndim]:08x} "
            f"({'images' if ndim == 3 else 'labels'}, unsigned bytes, {ndim}-D)"
        )
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    expected = 1
    for d in dims:
        expected *= d
    payload = raw[4 + 4 * ndim :]
    if len(payload) != expected:
        raise DataError(
            f"{path}: payload has {len(payload)} bytes but the header {tuple(dims)} "
            f"says {expected}; the file is truncated or corrupt"
        )
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims).copy()


def _check_pair(images: np.ndarray, labels: np.ndarray, img_path: Path, lab_path: Path, nclass: int = 10) -> None:
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{lab_path}: {labels.shape[0]} labels but {img_path.name} has {images.shape[0]} images; "
            "the counts must match"
        )
    if labels.size and int(labels.max()) >= nclass:
        i = int(labels.argmax())
        raise DataError(f"{lab_path}: label {int(labels[i])} at index {i}; labels must be in 0..{nclass - 1}")


def load_mnist(directory: str | Path, download: bool = False) -> dict[str, torch.Tensor]:
    """MNIST as uint8 tensors ``x_*`` (N, 1, 28, 28) and int64 labels ``y_*``.

    ``directory`` holds the four standard ``.gz`` files.  With ``download=True``
    and files missing, torchvision downloads them into ``directory``.
    """
    directory = Path(directory)
    missing = [f for f in MNIST_FILES.values() if not (directory / f).is_file()]
    if missing and download:
        directory = _torchvision_mnist(directory)
        missing = [f for f in MNIST_FILES.values() if not (directory / f).is_file()]
    if missing:
        raise DataError(
            f"{directory}: MNIST file(s) missing: {', '.join(missing)} "
            "(put the four IDX .gz files there, or set download: true)"
        )
    arrays = {}
    for split in ("train", "test"):
        img_path = directory / MNIST_FILES[f"{split}_images"]
        lab_path = directory / MNIST_FILES[f"{split}_labels"]
        images = read_idx_array(img_path, 3)
        labels = read_idx_array(lab_path, 1)
        if tuple(images.shape[1:]) != (28, 28):
            raise DataError(f"{img_path}: images are {images.shape[1]}x{images.shape[2]}, MNIST needs 28x28")
        _check_pair(images, labels, img_path, lab_path)
        arrays[split] = (images, labels)
    import torch

    out = {}
    for split, (images, labels) in arrays.items():
        out[f"x_{split}"] = torch.from_numpy(images).unsqueeze(1).contiguous()
        out[f"y_{split}"] = torch.from_numpy(labels).long()
    return out


def _torchvision_mnist(directory: Path) -> Path:
    from torchvision.datasets import MNIST

    for train in (True, False):
        MNIST(str(directory), train=train, download=True)
    return directory / "MNIST" / "raw"


def load_svhn(directory: str | Path, download: bool = False) -> dict[str, torch.Tensor]:
    """SVHN from the official ``train_32x32.mat`` / ``test_32x32.mat``.

    ``X`` is 32x32x3xN uint8 and ``y`` is Nx1 with labels 1..10, where 10
    means the digit 0.  Returned as uint8 (N, 3, 32, 32) and int64 labels 0..9.
    """
    directory = Path(directory)
    arrays = {}
    for split, fname in SVHN_FILES.items():
        path = directory / fname
        if not path.is_file() and download:
            from torchvision.datasets import SVHN

            SVHN(str(directory), split=split, download=True)
        if not path.is_file():
            raise DataError(
                f"{path}: SVHN file missing (download {fname} from "
                "http://ufldl.stanford.edu/housenumbers/ into that folder, or set download: true)"
            )
        arrays[split] = _read_svhn_mat(path)
    import torch

    out = {}
    for split, (x, y) in arrays.items():
        out[f"x_{split}"] = torch.from_numpy(x)
        out[f"y_{split}"] = torch.from_numpy(y)
    return out


def _read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Checked ``X`` as uint8 (N, 3, 32, 32) and ``y`` as int64 labels 0..9 (numpy)."""
    import numpy as np
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except (ValueError, OSError, TypeError, NotImplementedError) as exc:
        raise DataError(f"{path}: not a readable MATLAB .mat file ({exc})") from None
    for key in ("X", "y"):
        if key not in mat:
            raise DataError(f"{path}: variable '{key}' missing (official SVHN files have X and y)")
    X, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if X.ndim != 4 or X.shape[:3] != (32, 32, 3):
        raise DataError(f"{path}: X has shape {'x'.join(map(str, X.shape))}, expected 32x32x3xN")
    if X.dtype != np.uint8:
        raise DataError(f"{path}: X has dtype {X.dtype}, expected uint8")
    if y.shape[0] != X.shape[3]:
        raise DataError(f"{path}: {X.shape[3]} images but {y.shape[0]} labels in y; the counts must match")
    bad = np.flatnonzero((y < 1) | (y > 10) | (y != np.round(y))) if y.size else []
    if len(bad):
        i = int(bad[0])
        raise DataError(f"{path}: label {y[i]} at index {i}; SVHN labels must be in 1..10 (10 is the digit 0)")
    xt = np.ascontiguousarray(X.transpose(3, 2, 0, 1))
    yt = y.astype("int64") % 10
    return xt, yt


def prepare(dataset: str, directory: str | Path, out: str | Path, download: bool = False) -> dict:
    """Load ``dataset`` from ``directory`` and save it as one tensor file."""
    from .provenance import atomic_path

    if dataset == "mnist":
        data = load_mnist(directory, download)
    elif dataset == "svhn":
        data = load_svhn(directory, download)
    else:
        raise DataError(f"unknown dataset '{dataset}', allowed: {', '.join(DATASETS)}")
    import torch  # only now: a bad file is reported without paying for the torch import

    with atomic_path(out) as tmp:
        torch.save({"dataset": dataset, **data}, tmp)
    return {k: tuple(v.shape) for k, v in data.items()}


def load_prepared(path: str | Path, device: torch.device | str = "cpu") -> dict:
    """Load a prepared file; images become float32 in [0, 1] on ``device``."""
    from .serialization import safe_load

    blob = safe_load(path)
    if not isinstance(blob, dict) or any(k not in blob for k in ("dataset", "x_train", "y_train", "x_test", "y_test")):
        raise DataError(f"{path}: not a prepared dataset (expected dataset, x_train, y_train, x_test, y_test)")
    out = {"dataset": blob["dataset"]}
    for split in ("train", "test"):
        out[f"x_{split}"] = blob[f"x_{split}"].to(device).float().div_(255.0)
        out[f"y_{split}"] = blob[f"y_{split}"].to(device)
    return out
