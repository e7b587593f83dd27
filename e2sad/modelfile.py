"""A trained model's file: its plain ``state_dict`` (:func:`save_model`), rebuilt as a network of
:mod:`e2sad.models` (:func:`load_model`).  Training writes it, evaluation reads it."""

from __future__ import annotations

from pathlib import Path

import torch

from .errors import ConfigError
from .models import build_model
from .serialization import safe_load, save


def save_model(model: torch.nn.Module, path: str | Path) -> None:
    """A plain state_dict, loadable with ``torch.load(weights_only=True)``."""
    save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)


def load_model(
    path: str | Path,
    network: str,
    normalization: str,
    shape: tuple[int, ...] = (1, 28, 28),
    classes: int = 10,
    device: str | torch.device = "cpu",
    channels_last: bool = False,
) -> torch.nn.Module:
    """A model saved by :func:`save_model`, rebuilt as ``network`` with input ``normalization`` for
    inputs of ``shape`` (C, H, W) (``channels_last``: see :func:`e2sad.models.build_model`), in
    eval mode with its parameters frozen: an attack needs the input's gradient only, and the
    reference AutoAttack's FAB-T calls ``backward()``, which would otherwise compute every
    weight's gradient too (the input's is the same either way)."""
    state = safe_load(path, map_location=device)
    model = build_model(network, normalization, shape[0], shape[1], classes, channels_last=channels_last)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"{path}: not a {network} state_dict for inputs {'x'.join(map(str, shape))} "
            f"({str(exc).splitlines()[0][:160]})"
        ) from None
    return model.to(device).eval().requires_grad_(False)
