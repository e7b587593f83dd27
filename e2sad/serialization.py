"""Safe model and checkpoint files: loaded with ``torch.load(weights_only=True)`` only."""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import DataError


def save(obj: Any, path: str | Path) -> None:
    """``torch.save`` of ``obj`` to ``path``, atomically and byte for byte reproducible: the archive
    is built in memory (torch names its records after the file it writes to, so saving straight to
    a temporary file would embed that file's random name), then written like every output."""
    import io

    from .provenance import atomic_path

    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(buf.getvalue())


def safe_load(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """Load a tensor file without ever unpickling arbitrary objects.

    A file that needs pickle (for example one holding a whole ``nn.Module``, a
    custom class or a crafted payload) is refused with a one-line error that
    names what it would have imported; nothing in it is executed.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with warnings.catch_warnings():
            # e.g. "Detected pickle protocol 4": the error below says it better
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise DataError(f"{path}: {_refusal(path, str(exc))}") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
        with open(path, "rb") as fh:
            head = fh.read(4)
        if head.startswith(b"PK") and not zipfile.is_zipfile(path):
            raise DataError(
                f"{path}: truncated or corrupt torch.save archive (its zip directory is missing); write it again"
            ) from None
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not a readable torch file ({first})") from None


_ALLOWED = "only plain tensors and state_dicts (torch.save of a dict of tensors) are accepted"


def _refusal(path: Path, message: str) -> str:
    """One line out of torch's multi-line weights_only error."""
    glob = re.search(r"Unsupported global: GLOBAL ([\w.<>]+)", message)
    if glob:
        return (
            f"refused: loading it would import and call {glob.group(1)} (full pickle, which can run code); " + _ALLOWED
        )
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            head = fh.read(1)
        if head != b"\x80":  # every pickle of protocol >= 2 starts with PROTO
            return "not a torch file (neither a torch.save zip archive nor a pickle)"
    op = re.search(r"Unsupported operand (\d+)", message)
    detail = f" (pickle opcode {int(op.group(1))} is not allowed)" if op else ""
    return f"refused: the file needs full pickle to load, which can run code{detail}; " + _ALLOWED
