"""Evaluation: accuracy under an attack, batched over the test set or its first n images."""

from __future__ import annotations

import torch

from .attacks import get_attack, run_attack


@torch.no_grad()
def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    correct = 0
    for i in range(0, x.shape[0], batch_size):
        correct += int((model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum())
    return correct / max(x.shape[0], 1)


def evaluate(model, x, y, attack: str, params: dict, batch_size: int = 500) -> dict:
    """Accuracy of ``model`` on ``attack(x)``; returns a tidy row (without the model name)."""
    get_attack(attack)
    x_adv = run_attack(model, x, y, attack, params, batch_size)
    linf = float((x_adv - x).abs().amax()) if x.numel() else 0.0
    return {
        "attack": attack,
        "params": params,
        "n": int(x.shape[0]),
        "accuracy": accuracy(model, x_adv, y, batch_size),
        "max_linf": round(linf, 6),
    }
