"""Datasets, declared in the config by what they are, not by a name the code knows.

A dataset's declaration (``data.<name>`` in the config, checked by
:func:`check_dataset`) gives its file ``format`` (:data:`FORMATS`: ``idx`` for
MNIST-like gzip IDX files, ``svhn_mat`` for SVHN's official ``.mat`` files,
``npz`` for numpy arrays), the folder ``src`` (or a list of folders, tried in
order), ``channels``, ``size``, ``classes``, the raw ``pixel_range`` mapped to
[0, 1], which network of the paper it uses (``network``, see
:mod:`e2sad.models`) and that network's input ``normalization``.  MNIST and
SVHN are two such declarations in ``config.yaml``; Fashion-MNIST is one more in
``config/fashion.yaml``.

Every dataset is converted once to a small ``.pt`` file of uint8 tensors (``prepare``),
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

from ..errors import DataError

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
NPZ_FILES = {"train": "train.npz", "test": "test.npz"}

_IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}
#: classes of a prepared file that does not store them: files prepared before :func:`prepare` stored
#: the declaration's count held MNIST or SVHN (new files always store it)
LEGACY_CLASSES = 10
#: the torchvision dataset class an ``idx`` declaration downloads when it names none
TORCHVISION_IDX = "MNIST"


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


def _check_pair(images: np.ndarray, labels: np.ndarray, img_path: Path, lab_path: Path) -> None:
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{lab_path}: {labels.shape[0]} labels but {img_path.name} has {images.shape[0]} images; "
            "the counts must match"
        )


def load_idx(
    directory: str | Path, download: bool = False, torchvision: str = TORCHVISION_IDX
) -> dict[str, np.ndarray]:
    """Format ``idx``: the four MNIST-style gzip IDX files (:data:`MNIST_FILES`) of ``directory``,
    as uint8 arrays ``x_*`` (N, 1, H, W) and int64 labels ``y_*``.

    With ``download=True`` and files missing, ``torchvision.datasets.<torchvision>``
    (``MNIST``, ``FashionMNIST``, ``KMNIST``) downloads them into ``directory``.
    """
    directory = Path(directory)
    missing = [f for f in MNIST_FILES.values() if not (directory / f).is_file()]
    if missing and download:
        directory = _torchvision_idx(directory, torchvision)
        missing = [f for f in MNIST_FILES.values() if not (directory / f).is_file()]
    if missing:
        raise DataError(
            f"{directory}: IDX file(s) missing: {', '.join(missing)} "
            "(put the four IDX .gz files there, or set download: true)"
        )
    out = {}
    for split in ("train", "test"):
        img_path = directory / MNIST_FILES[f"{split}_images"]
        lab_path = directory / MNIST_FILES[f"{split}_labels"]
        images = read_idx_array(img_path, 3)
        labels = read_idx_array(lab_path, 1)
        _check_pair(images, labels, img_path, lab_path)
        out[f"_labels_{split}"] = lab_path
        out[f"x_{split}"] = images[:, None]
        out[f"y_{split}"] = labels.astype("int64")
        out[f"_path_{split}"] = img_path
    return out


def _torchvision_idx(directory: Path, name: str) -> Path:
    import torchvision.datasets as tvd

    cls = getattr(tvd, name, None)
    if cls is None:
        raise DataError(f"torchvision has no dataset {name!r} to download IDX files from (e.g. MNIST, FashionMNIST)")
    try:
        for train in (True, False):
            cls(str(directory), train=train, download=True)
    except Exception as exc:  # network or mirror failure, in one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"{directory}: downloading {name} failed ({reason[:200]}); put the four IDX .gz files there "
            "(or in another folder of src) and run again"
        ) from None
    return directory / name / "raw"


def load_svhn_mat(directory: str | Path, download: bool = False, torchvision: str = "SVHN") -> dict[str, np.ndarray]:
    """Format ``svhn_mat``: the official ``train_32x32.mat`` / ``test_32x32.mat``.

    ``X`` is 32x32x3xN uint8 and ``y`` is Nx1 with labels 1..10, where 10
    means the digit 0.  Returned as uint8 (N, 3, 32, 32) and int64 labels 0..9.
    """
    directory = Path(directory)
    out = {}
    for split, fname in SVHN_FILES.items():
        path = directory / fname
        if not path.is_file() and download:
            from torchvision.datasets import SVHN

            try:
                SVHN(str(directory), split=split, download=True)
            except Exception as exc:  # network or mirror failure, in one line
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise DataError(f"{path}: downloading SVHN failed ({reason[:200]}); put {fname} there") from None
        if not path.is_file():
            raise DataError(
                f"{path}: SVHN file missing (download {fname} from "
                "http://ufldl.stanford.edu/housenumbers/ into that folder, or set download: true)"
            )
        out[f"x_{split}"], out[f"y_{split}"] = _read_svhn_mat(path)
        out[f"_path_{split}"] = path
    return out


def load_npz(directory: str | Path, download: bool = False, torchvision: str = "") -> dict[str, np.ndarray]:
    """Format ``npz``: ``train.npz`` and ``test.npz``, each with ``x`` (N, C, H, W) or (N, H, W)
    and integer labels ``y`` (N,) from 0."""
    import numpy as np

    directory = Path(directory)
    out = {}
    for split, fname in NPZ_FILES.items():
        path = directory / fname
        if not path.is_file():
            raise DataError(f"{path}: file missing (format npz needs train.npz and test.npz with arrays x and y)")
        try:
            with np.load(path, allow_pickle=False) as z:
                x, y = z["x"], z["y"]
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{path}: not a readable .npz with arrays x and y ({exc})") from None
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4:
            raise DataError(f"{path}: x has shape {x.shape}, expected (N, C, H, W) or (N, H, W)")
        y = np.asarray(y).reshape(-1)
        if y.shape[0] != x.shape[0] or (y.size and (y.min() < 0 or y.dtype.kind not in "iu")):
            raise DataError(f"{path}: y must hold one integer label >= 0 per image ({y.shape[0]} for {x.shape[0]})")
        out[f"x_{split}"], out[f"y_{split}"], out[f"_path_{split}"] = x, y.astype("int64"), path
    return out


#: format -> (loader, the files it reads in ``src``)
FORMATS = {
    "idx": (load_idx, tuple(MNIST_FILES.values())),
    "svhn_mat": (load_svhn_mat, tuple(SVHN_FILES.values())),
    "npz": (load_npz, tuple(NPZ_FILES.values())),
}


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


def check_shape(data: dict, channels: int | None, size: int | None, classes: int | None) -> None:
    """The loaded arrays against the dataset's declaration (channels, size, classes); one line on a mismatch."""
    for split in ("train", "test"):
        x, y, path = data[f"x_{split}"], data[f"y_{split}"], data[f"_path_{split}"]
        lab_path = data.get(f"_labels_{split}", path)
        c, h, w = x.shape[1:]
        if channels is not None and c != channels:
            raise DataError(f"{path}: images have {c} channel(s), the dataset declares channels: {channels}")
        if size is not None and (h, w) != (size, size):
            raise DataError(f"{path}: images are {h}x{w}, the dataset declares size: {size} ({size}x{size})")
        if classes is not None and y.size and int(y.max()) >= classes:
            i = int(y.argmax())
            raise DataError(f"{lab_path}: label {int(y[i])} at index {i}; labels must be in 0..{classes - 1}")


def dataset_folders(decl: dict, base_dir: str | Path = ".") -> list[Path]:
    """The folders a dataset's ``src`` names (one, or a list tried in order), relative to ``base_dir``."""
    srcs = decl["src"] if isinstance(decl["src"], list) else [decl["src"]]
    return [Path(base_dir) / s for s in srcs]


def dataset_folder(decl: dict, base_dir: str | Path = ".") -> Path:
    """The first folder of ``src`` that holds the dataset's files, else the first one (downloads go there)."""
    folders = dataset_folders(decl, base_dir)
    files = FORMATS[decl["format"]][1]
    return next((f for f in folders if all((f / n).is_file() for n in files)), folders[0])


def source_files(fmt: str, folder: str | Path) -> list[Path]:
    """The original files a dataset of format ``fmt`` keeps in ``folder`` (present or not)."""
    return [Path(folder) / f for f in FORMATS[fmt][1]]


def source_digests(files) -> dict[str, str]:
    """The content of a dataset's original files, ``{name: "blake2b:<hex>"}``: recorded beside a
    prepared file, so a study re-run against a new copy of the same files (new times, same bytes)
    reuses what it prepared and trained, and one against different bytes says so
    (:meth:`e2sad.plan.Study.check_prepared`)."""
    import hashlib

    out = {}
    for f in files:
        with open(f, "rb") as fh:
            out[Path(f).name] = "blake2b:" + hashlib.file_digest(fh, "blake2b").hexdigest()
    return out


def prepare(
    name: str,
    fmt: str,
    directory: str | Path,
    out: str | Path,
    download: bool = False,
    *,
    torchvision: str | None = None,
    channels: int | None = None,
    size: int | None = None,
    classes: int | None = None,
    pixel_range: tuple[float, float] = (0, 255),
) -> dict:
    """Load dataset ``name`` stored in format ``fmt`` from ``directory``, check it against the
    declared shape and save it as one tensor file (with its classes and pixel range)."""
    from ..serialization import save

    if fmt not in FORMATS:
        raise DataError(f"format {fmt!r} is not allowed; allowed: {', '.join(FORMATS)}")
    loader, _ = FORMATS[fmt]
    data = loader(directory, download, **({"torchvision": torchvision} if torchvision else {}))
    check_shape(data, channels, size, classes)
    import torch  # only now: a bad file is reported without paying for the torch import

    tensors = {k: torch.from_numpy(v).contiguous() for k, v in data.items() if not k.startswith("_")}
    n_classes = (
        classes if classes is not None else int(max(int(tensors[f"y_{s}"].max()) for s in ("train", "test"))) + 1
    )
    save({"dataset": name, **tensors, "classes": n_classes, "pixel_range": list(pixel_range)}, out)
    return {k: tuple(v.shape) for k, v in tensors.items()}


def load_prepared(path: str | Path, device: torch.device | str = "cpu", splits=("train", "test")) -> dict:
    """Load a prepared file; the images of ``splits`` become float32 in [0, 1] on ``device`` (raw
    pixel range [lo, hi] mapped to [0, 1]); ``classes`` is the number of classes.  An evaluation
    asks for ``("test",)`` only: converting MNIST's 60,000 training images costs ~0.15 s a job."""
    from ..serialization import safe_load

    blob = safe_load(path)
    if not isinstance(blob, dict) or any(k not in blob for k in ("dataset", "x_train", "y_train", "x_test", "y_test")):
        raise DataError(f"{path}: not a prepared dataset (expected dataset, x_train, y_train, x_test, y_test)")
    lo, hi = blob.get("pixel_range", (0, 255))
    out = {"dataset": blob["dataset"], "classes": int(blob.get("classes", LEGACY_CLASSES))}
    for split in splits:
        x = blob[f"x_{split}"].to(device).float()
        if lo:
            x.sub_(float(lo))
        out[f"x_{split}"] = x.div_(float(hi - lo))
        out[f"y_{split}"] = blob[f"y_{split}"].to(device)
    return out
