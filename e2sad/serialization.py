"""Safe model and checkpoint files: loaded with ``torch.load(weights_only=True)`` only."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from .errors import DataError


def safe_load(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """Load a tensor file without ever unpickling arbitrary objects.

    A file that needs pickle (for example one holding a whole ``nn.Module`` or a
    crafted payload) is refused with a one-line error.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DataError(
            f"{path}: refused: the file needs full pickle to load, which can run code; "
            f"only plain tensors/state_dicts are accepted ({first[:160]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable torch file ({str(exc).splitlines()[0][:160]})") from None
