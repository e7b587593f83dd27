"""Model, data and checkpoint files are loaded with ``torch.load(weights_only=True)``
only: a crafted file that needs pickle is refused with one line, and its
payload never runs (a marker file it would create stays absent).
"""

from __future__ import annotations

import builtins
import io
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from e2sad.errors import DataError
from e2sad.serialization import safe_load


class _CreatesMarker:
    """Unpickling this calls open(marker, "w"): the file appears iff the payload ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


class _Custom:
    def __init__(self):
        self.weight = torch.zeros(3)


def _zip_payload(path: Path, marker: Path) -> Path:
    """A torch.save zip that looks like a state_dict, with the payload hidden in one entry."""
    torch.save({"conv1.weight": torch.zeros(2, 2), "conv1.bias": _CreatesMarker(marker)}, path)
    return path


def _raw_pickle(protocol: int):
    def make(path: Path, marker: Path) -> Path:
        path.write_bytes(pickle.dumps(_CreatesMarker(marker), protocol=protocol))
        return path

    return make


CRAFTED = [
    pytest.param(_zip_payload, r"loading it would import and call _?io\.open", id="torch_zip_with_reduce"),
    pytest.param(_raw_pickle(2), r"loading it would import and call _?io\.open", id="raw_pickle_protocol2"),
    pytest.param(_raw_pickle(4), "needs full pickle to load, which can run code", id="raw_pickle_protocol4"),
]


@pytest.mark.parametrize("make,fragment", CRAFTED)
def test_crafted_file_refused_and_payload_not_run(tmp_path, make, fragment):
    marker = tmp_path / "PWNED"
    path = make(tmp_path / "crafted.pt", marker)
    with pytest.raises(DataError) as info:
        safe_load(path)
    msg = str(info.value)
    assert "\n" not in msg and "\x1b" not in msg, msg
    assert msg.startswith(f"{path}: refused: "), msg
    assert re.search(fragment, msg) and "only plain tensors and state_dicts" in msg, msg
    assert not marker.exists(), "the payload ran"


def test_payload_is_live(tmp_path):
    """Control: the same file loaded with full pickle does create the marker."""
    marker = tmp_path / "PWNED"
    path = _zip_payload(tmp_path / "crafted.pt", marker)
    obj = torch.load(path, weights_only=False)
    obj["conv1.bias"].close()
    assert marker.exists()


@pytest.mark.parametrize(
    "obj,name",
    [
        pytest.param(lambda: torch.nn.Linear(2, 2), "torch.nn.modules.linear.Linear", id="whole_module"),
        pytest.param(_Custom, f"{__name__}._Custom", id="custom_class"),
    ],
)
def test_pickled_objects_refused(tmp_path, obj, name):
    path = tmp_path / "obj.pt"
    torch.save(obj(), path)
    with pytest.raises(DataError) as info:
        safe_load(path)
    msg = str(info.value)
    assert "\n" not in msg and f"import and call {name} " in msg, msg


def test_not_a_torch_file(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"<html>not a model</html>")
    with pytest.raises(DataError) as info:
        safe_load(path)
    assert str(info.value) == f"{path}: not a torch file (neither a torch.save zip archive nor a pickle)"


def test_truncated_torch_file(tmp_path):
    path = tmp_path / "trunc.pt"
    buf = io.BytesIO()
    torch.save({"w": torch.randn(100, 100)}, buf)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(DataError) as info:
        safe_load(path)
    expected = "truncated or corrupt torch.save archive (its zip directory is missing); write it again"
    assert str(info.value) == f"{path}: {expected}"


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        safe_load(tmp_path / "nope.pt")


def test_plain_state_dict_loads(tmp_path):
    path = tmp_path / "ok.pt"
    sd = torch.nn.Linear(3, 2).state_dict()
    torch.save(sd, path)
    loaded = safe_load(path)
    assert loaded.keys() == sd.keys() and all(torch.equal(loaded[k], sd[k]) for k in sd)


# --- through the command line -------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "mnist.pt"
    z = torch.zeros(8, 1, 28, 28, dtype=torch.uint8)
    y = torch.zeros(8, dtype=torch.long)
    torch.save({"dataset": "mnist", "x_train": z, "y_train": y, "x_test": z, "y_test": y}, path)
    return path


@pytest.mark.timeout(120)
@pytest.mark.parametrize("role", ["model", "data"])
def test_evaluate_refuses_crafted_file(tmp_path, tiny_data, role):
    marker = tmp_path / "PWNED"
    crafted = _zip_payload(tmp_path / "crafted.pt", marker)
    model = crafted if role == "model" else tmp_path / "unused_model.pt"
    data = crafted if role == "data" else tiny_data
    out = tmp_path / "row.json"
    proc = subprocess.run(
        [sys.executable, "-m", "e2sad", "evaluate", "--name", "m", "--model", str(model), "--dataset", "mnist"]
        + ["--data", str(data), "--attack", "none", "--out", str(out), "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=110,
    )
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert proc.returncode == 2, lines
    assert len(lines) == 1, lines
    # builtins.open pickles as io.open (Python 3.11) or _io.open (3.12)
    expected = rf"e2sad: error: {re.escape(str(crafted))}: refused: loading it would import and call _?io\.open"
    assert re.match(expected, lines[0]), lines
    assert not marker.exists(), "the payload ran"
    assert not out.exists()


def test_model_files_are_byte_for_byte_reproducible(tmp_path):
    """The same weights give the same file, whatever its name (torch.save would embed the name of
    the temporary file it writes to)."""
    import torch

    from e2sad.modelfile import save_model
    from e2sad.models import TableA1CNN

    torch.manual_seed(0)
    model = TableA1CNN()
    save_model(model, tmp_path / "a" / "model.pt")
    save_model(model, tmp_path / "b" / "model.pt")
    save_model(model, tmp_path / "other.pt")
    blobs = {(tmp_path / p).read_bytes() for p in ("a/model.pt", "b/model.pt", "other.pt")}
    assert len(blobs) == 1
