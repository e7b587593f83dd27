"""Sizes: a number of images asked of a split against the images it has, one line naming the key
when it is more (never a silent cap).  At plan time from the files' headers (:func:`check_sizes`),
in the first job that reads the data otherwise (:func:`require_size`)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

from ..errors import ConfigError, DataError
from .formats import FORMATS, MNIST_FILES, NPZ_FILES, SVHN_FILES, TORCHVISION_IDX, dataset_folders

#: split -> the noun of its images in a message
SPLIT_NOUNS = {"train": "training", "test": "test"}


def size_error(key: str, n: int, have: int, split: str, dataset: str) -> str:
    """The one line of a size that exceeds the data: ``<key>: <n> exceeds the <have> test images of <dataset>``."""
    return f"{key}: {n} exceeds the {have} {SPLIT_NOUNS[split]} images of {dataset}"


def require_size(data: dict, split: str, n: int | None, key: str) -> None:
    """Job-time check: ``n`` images of ``split`` (``"train"`` or ``"test"``) asked by ``key`` (e.g.
    ``--n`` or ``--batch-size``) are there in ``data`` (a :func:`load_prepared` dict, or any with
    ``x_<split>`` and ``dataset``), else :class:`ConfigError` with one line (:func:`size_error`).
    ``None`` asks for the whole split.  The plan checks the same keys earlier when it can read the
    files' headers (:func:`check_sizes`); this covers data it could not read (a download, a file
    made by an earlier job)."""
    if n is None:
        return
    have = int(data[f"x_{split}"].shape[0])
    if n > have:
        raise ConfigError(size_error(key, n, have, split, data.get("dataset", "the data")))


def _idx_count(path: Path) -> int:
    """The first dimension of a gzip IDX file, from its 8-byte header (nothing else is read)."""
    with gzip.open(path, "rb") as fh:
        head = fh.read(8)
    if len(head) < 8:
        raise DataError(f"{path}: IDX header truncated")
    return struct.unpack(">I", head[4:8])[0]


def _idx_sizes(folder: Path) -> dict[str, int]:
    return {s: _idx_count(folder / MNIST_FILES[f"{s}_images"]) for s in ("train", "test")}


def _npz_count(path: Path) -> int:
    """The first dimension of ``x`` in an ``.npz``, from the ``.npy`` header inside the archive."""
    import zipfile

    import numpy as np

    with zipfile.ZipFile(path) as z, z.open("x.npy") as fh:
        version = np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, _ = read(fh)
    return int(shape[0])


def _npz_sizes(folder: Path) -> dict[str, int]:
    return {s: _npz_count(folder / NPZ_FILES[s]) for s in ("train", "test")}


def _svhn_sizes(folder: Path) -> dict[str, int]:
    """The last dimension of ``X`` (32x32x3xN) from the ``.mat`` variable headers (``scipy.io.whosmat``)."""
    from scipy.io import whosmat

    out = {}
    for s in ("train", "test"):
        shapes = {name: shape for name, shape, _ in whosmat(str(folder / SVHN_FILES[s]))}
        out[s] = int(shapes["X"][3])
    return out


_SIZE_READERS = {"idx": _idx_sizes, "svhn_mat": _svhn_sizes, "npz": _npz_sizes}


def dataset_sizes(decl: dict, base_dir: str | Path = ".") -> dict[str, int] | None:
    """The number of images of each split of a dataset's declaration (``data.<name>``),
    ``{"train": N, "test": M}``, read cheaply from its files where ``src`` finds them: the IDX
    header (format ``idx``), the ``.npy`` header of ``x`` inside each ``.npz`` (``npz``), the ``.mat``
    variable headers (``svhn_mat``).  ``None`` when unknown: files absent (not yet downloaded, an
    optional dataset left out) or unreadable (the job that reads them says why)."""
    fmt = decl.get("format")
    if fmt not in FORMATS:
        return None
    folders = dataset_folders(decl, base_dir)
    if decl.get("download") and fmt == "idx":  # where torchvision put an earlier download
        folders += [f / (decl.get("torchvision") or TORCHVISION_IDX) / "raw" for f in folders]
    folder = next((f for f in folders if all((f / n).is_file() for n in FORMATS[fmt][1])), None)
    if folder is None:
        return None
    try:
        return _SIZE_READERS[fmt](folder)
    except Exception:  # any unreadable header: unknown here; prepare-data reports the file in one line
        return None


def _section_datasets(config: dict, section: dict) -> list[str]:
    """The datasets of the tables a science section (robustness, sanity) names."""
    tables = config.get("tables", {})
    return list(dict.fromkeys(tables[t]["dataset"] for t in section.get("tables", []) if t in tables))


def sized_keys(config: dict):
    """Every config key that asks for a number of images of a split: yields
    ``(key, dataset, split, n)`` for the keys that are set.  Test images: ``evaluation.n_test``
    (every dataset of ``datasets``), ``robustness.n_test`` and ``sanity.n_test`` (their tables'
    datasets), ``frontier.n_test`` and ``frontier.snapshot_n_test``, ``figures.<f>.n``.  Training
    images (one batch): ``training.<dataset>.batch_size``, ``models.<m>.train_recipe.batch_size``
    and ``frontier.recipes.<m>.batch_size``."""
    models = config.get("models", {})
    for ds in config.get("datasets", []):
        yield "evaluation.n_test", ds, "test", config.get("evaluation", {}).get("n_test")
    for sec in ("robustness", "sanity"):
        section = config.get(sec) or {}
        for ds in _section_datasets(config, section):
            yield f"{sec}.n_test", ds, "test", section.get("n_test")
    fr = config.get("frontier") or {}
    for key in ("n_test", "snapshot_n_test"):
        if "dataset" in fr:
            yield f"frontier.{key}", fr["dataset"], "test", fr.get(key)
    for name, f in (config.get("figures") or {}).items():
        yield f"figures.{name}.n", f.get("dataset"), "test", f.get("n")
    for ds, t in (config.get("training") or {}).items():
        yield f"training.{ds}.batch_size", ds, "train", (t or {}).get("batch_size")
    for name, m in models.items():
        yield (
            f"models.{name}.train_recipe.batch_size",
            m.get("dataset"),
            "train",
            (m.get("train_recipe") or {}).get("batch_size"),
        )
    for name, r in (fr.get("recipes") or {}).items():
        yield (
            f"frontier.recipes.{name}.batch_size",
            models.get(name, {}).get("dataset"),
            "train",
            (r or {}).get("batch_size"),
        )


def check_sizes(config: dict, base_dir: str | Path = ".") -> None:
    """Plan-time check of every key of :func:`sized_keys` against the images its dataset has.

    For each key that is set and whose dataset is one of ``datasets`` with files that
    :func:`dataset_sizes` can read (relative to ``base_dir``, the folder ``src`` is relative to),
    a number of test images (``n_test``, ``n``) must not exceed the test split and a batch size
    must not exceed the training split; else :class:`e2sad.errors.ConfigError` with one line, e.g.
    ``config: evaluation.n_test: 50000 exceeds the 10000 test images of mnist``.  A dataset whose
    sizes are unknown here (to be downloaded, absent) is left to the job that reads it
    (:func:`require_size`).  Reads only file headers: cheap enough for every config check."""
    active = set(config.get("datasets", []))
    sizes: dict[str, dict[str, int] | None] = {}
    for key, ds, split, n in sized_keys(config):
        if n is None or ds not in active or ds not in config.get("data", {}):
            continue
        if ds not in sizes:
            sizes[ds] = dataset_sizes(config["data"][ds], base_dir)
        have = (sizes[ds] or {}).get(split)
        if have is not None and n > have:
            raise ConfigError(f"config: {size_error(key, n, have, split, ds)}")
