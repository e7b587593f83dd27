"""Shared fixtures: the real MNIST from ../shared/data, a briefly trained model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
MNIST_DIR = Path(os.environ.get("E2SAD_MNIST", REPO.parent / "shared" / "data" / "mnist"))

torch.set_num_threads(int(os.environ.get("E2SAD_TEST_THREADS", "2")))


@pytest.fixture(scope="session")
def mnist():
    """MNIST as float tensors in [0, 1] (the real files, loaded with the project's loader)."""
    import torch

    from e2sad.data import load_idx

    if not MNIST_DIR.is_dir():
        pytest.fail(f"MNIST not found at {MNIST_DIR}; set E2SAD_MNIST to the folder with the IDX .gz files")
    d = {k: torch.from_numpy(v) for k, v in load_idx(MNIST_DIR).items() if not k.startswith("_")}
    return {
        "x_train": d["x_train"].float() / 255,
        "y_train": d["y_train"],
        "x_test": d["x_test"].float() / 255,
        "y_test": d["y_test"],
    }


@pytest.fixture(scope="session")
def natural_model(mnist):
    """A natural model trained for 300 steps of batch 64 (about 97% clean accuracy)."""
    from e2sad.train import train

    model, _ = train(
        data=mnist, dataset="mnist", defense="natural", hparams={}, steps=300, batch_size=64, seed=0, progress_every=0
    )
    return model
