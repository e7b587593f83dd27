"""Models that other authors released, read by this engine exactly like the ones it trains.

Each known release format is declared once (:data:`RELEASES`): where such files come from, the
network of :mod:`e2sad.models` it is, the inputs it takes and how its ``state_dict`` keys map to
that network's.  :func:`convert_released` reads a file the user supplies (never shipped here),
checks it against its format and returns this engine's ``state_dict``; the command line's
``convert-released`` writes it as a model file (:func:`e2sad.modelfile.save_model`) that
``evaluate`` reads like a trained one.  A file that is not of its format is one line naming the
file and what differs (:class:`~e2sad.errors.DataError`); an unknown format one line naming the
known ones (:class:`~e2sad.errors.ConfigError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from .errors import ConfigError, DataError
from .models import build_model
from .serialization import safe_load


@dataclass(frozen=True)
class ReleaseFormat:
    """A released file's format: ``source`` (where such files come from, in words), the
    ``network`` (:data:`e2sad.models.NETWORKS`) and ``normalization`` it is, its inputs
    (``channels``, ``size``, ``classes``), and ``layers``: the prefix of each of its keys (their
    module's name) -> this engine's module path (``"5"`` -> ``"classifier.1"``)."""

    name: str
    source: str
    network: str
    layers: dict[str, str] = field(default_factory=dict)
    normalization: str = "none"
    channels: int = 1
    size: int = 28
    classes: int = 10

    def build(self) -> torch.nn.Module:
        """This engine's network of the format, freshly initialised."""
        return build_model(self.network, self.normalization, self.channels, self.size, self.classes)

    def key_map(self) -> dict[str, str]:
        """Their key -> this engine's (``"5.weight"`` -> ``"classifier.1.weight"``), for every
        parameter and buffer of the network."""
        ours = {prefix: theirs for theirs, prefix in self.layers.items()}
        out = {}
        for key in self.build().state_dict():
            module, _, param = key.rpartition(".")
            if module not in ours:
                raise ConfigError(f"release format {self.name}: {self.network}'s {key} has no key of theirs")
            out[f"{ours[module]}.{param}"] = key
        return out


#: every release format this engine reads, by name (``released.models.<name>.release`` in the config)
RELEASES = {
    f.name: f
    for f in (
        ReleaseFormat(
            name="wong2020_mnist_net",
            source=(
                "Wong, Rice, Kolter 2020, locuslab/fast_adversarial, MNIST/models/*.pth (fgsm.pth, pgd_madry.pth): "
                "torch.save(model.state_dict()) of MNIST/mnist_net.py's mnist_net, an nn.Sequential "
                "(conv 16 4x4 s2, ReLU, conv 32 4x4 s2, ReLU, Flatten, FC 100, ReLU, FC 10) on [0, 1] MNIST pixels"
            ),
            network="wong2020_mnist",
            # their nn.Sequential's index -> wong2020_mnist's module (ReLUs and Flatten hold nothing)
            layers={"0": "features.0", "2": "features.2", "5": "classifier.1", "7": "classifier.3"},
        ),
    )
}


def release_format(name: str) -> ReleaseFormat:
    """The declared format ``name``; one line naming the known ones otherwise."""
    if name not in RELEASES:
        raise ConfigError(f"release format {name!r} is not known; known: {', '.join(RELEASES)}")
    return RELEASES[name]


def _shape(t) -> str:
    return "(" + ", ".join(map(str, t.shape)) + ")"


def _check_torch_file(path: str | Path, fmt: ReleaseFormat) -> None:
    """One line when ``path`` is neither a torch.save zip archive nor a pickle (a text file, an
    HTML page saved in its place); :func:`e2sad.serialization.safe_load` says the rest."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found; supply the {fmt.name} file ({fmt.source.split(':')[0]})")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head.startswith(b"PK") and not head.startswith(b"\x80"):
        raise DataError(
            f"{path}: not a torch file (neither a torch.save zip archive nor a pickle: it starts with {head!r}); "
            f"a {fmt.name} file is torch.save of a state_dict"
        )


def convert_released(path: str | Path, release: str) -> dict[str, torch.Tensor]:
    """The file ``path`` of format ``release`` as this engine's ``state_dict`` of the format's
    network (float32, on the CPU): every key renamed, every shape checked, then loaded into the
    network.  Raises :class:`DataError` with one line naming the file and what differs: not a torch
    file (:func:`e2sad.serialization.safe_load`), not a state_dict, a key missing or not of the
    format, a value that is not a floating tensor, a shape that differs."""
    fmt = release_format(release)
    _check_torch_file(path, fmt)
    state = safe_load(path)
    what = f"{path}: a {fmt.name} file"
    if not isinstance(state, dict):
        raise DataError(f"{what} is a state_dict (a dict of tensors); this one holds a {type(state).__name__}")
    names = fmt.key_map()
    missing = [k for k in names if k not in state]
    unknown = [k for k in state if k not in names]
    keys = ", ".join(names)
    have = ", ".join(map(str, state)) or "no key"
    if unknown and len(missing) == len(names):
        raise DataError(f"{path}: holds none of a {fmt.name} file's keys ({keys}); it has {have}")
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise DataError(f"{path}: key {unknown[0]!r}{more} is not one of a {fmt.name} file's keys ({keys})")
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"{path}: key {missing[0]!r}{more} of a {fmt.name} file is missing; this one has {have}")
    want = fmt.build().state_dict()
    out = {}
    for theirs, ours in names.items():
        v = state[theirs]
        if not isinstance(v, torch.Tensor) or not v.is_floating_point():
            kind = f"a {v.dtype} tensor" if isinstance(v, torch.Tensor) else f"a {type(v).__name__}"
            raise DataError(f"{what}: {theirs} holds {kind}, {fmt.network}'s {ours} needs a float tensor")
        if v.shape != want[ours].shape:
            raise DataError(
                f"{path}: {theirs} has shape {_shape(v)}, {fmt.network}'s {ours} needs {_shape(want[ours])}"
            )
        out[ours] = v.detach().to(device="cpu", dtype=torch.float32).contiguous()
    net = fmt.build()
    net.load_state_dict(out)  # every key and shape checked above: this cannot fail
    return {k: v.detach().cpu() for k, v in net.state_dict().items()}


def released_model(path: str | Path, release: str) -> torch.nn.Module:
    """The format's network holding the released file's weights (:func:`convert_released`), in eval mode."""
    net = release_format(release).build()
    net.load_state_dict(convert_released(path, release))
    return net.eval()
