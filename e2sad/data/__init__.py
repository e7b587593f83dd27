"""The datasets: their formats and readers (:mod:`.formats`: IDX, SVHN's .mat, .npz; the prepared
tensor file) and the sizes a config asks of them (:mod:`.sizes`)."""

from .formats import (
    FORMATS,
    MNIST_FILES,
    SVHN_FILES,
    dataset_folder,
    dataset_folders,
    load_idx,
    load_prepared,
    load_svhn_mat,
    prepare,
    source_digests,
    source_files,
)
from .sizes import check_sizes, dataset_sizes, require_size

__all__ = [
    "FORMATS",
    "MNIST_FILES",
    "SVHN_FILES",
    "check_sizes",
    "dataset_folder",
    "dataset_folders",
    "dataset_sizes",
    "load_idx",
    "load_prepared",
    "load_svhn_mat",
    "prepare",
    "require_size",
    "source_digests",
    "source_files",
]
