"""Provenance sidecars and atomic writes.

Every output of the pipeline is written atomically (to a temporary file in the
same directory, then ``os.replace``) and gets a ``<output>.meta.json`` sidecar
with the values that produced it, their hash, the code version, the seed,
package versions and wall time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import __version__


def config_hash(values: Any) -> str:
    """Stable short hash of a JSON-serialisable value (sorted keys)."""
    blob = json.dumps(values, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def code_version() -> str:
    """The git commit of the code (with ``-dirty`` if modified), else the package version."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--", str(here)],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        return f"git:{commit}{'-dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return f"e2sad=={__version__}"


def package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("torch", "torchvision", "numpy", "pandas", "torchattacks", "snakemake"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


#: environment variables that choose which CPU kernels torch, oneDNN and MKL run (docs/results.md "Other
#: CPUs, other digits": the same code gives other low digits under AVX-512 than under AVX2 kernels)
ISA_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def cpu_record() -> dict[str, Any]:
    """The CPU code path a job's numbers depend on: torch's kernel capability (when torch is loaded;
    e.g. AVX2, AVX512), the CPU model and the ISA variables that are set."""
    out: dict[str, Any] = {"model": _cpu_model()}
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            out["capability"] = torch.backends.cpu.get_cpu_capability()
        except AttributeError:
            pass
    isa = {k: os.environ[k] for k in ISA_VARIABLES if k in os.environ}
    if isa:
        out["isa_env"] = isa
    return out


def gpu_name() -> str | None:
    """The name of the GPU this process used (when torch has initialized CUDA), else None."""
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_initialized():
            return torch.cuda.get_device_name(torch.cuda.current_device())
    except (AttributeError, RuntimeError):
        pass
    return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _new_temp_file(path: Path) -> Path:
    """Create an empty, uniquely named file next to ``path`` and return its path.

    Unlike ``tempfile.mkstemp`` (always mode 0600), the file is created
    with mode 0666 and the kernel applies the process umask (and any default
    ACL of the directory), exactly as for a normal new file: 0644 under umask
    022, 0600 under umask 077.  The umask itself is never read or changed, so
    there is no window in which another thread would create files under a
    wrong umask.  ``O_EXCL`` makes the name ours alone.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"{path.parent}: no free temporary name for {path.name}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place on success only.

    The temporary file lies in the same directory (so ``os.replace`` is an
    atomic rename) and has the mode a normal new file gets under the current
    umask (see :func:`_new_temp_file`), so outputs are readable by others
    whenever the umask allows it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _new_temp_file(path)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON with sorted keys to ``path`` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def sidecar_path(path: str | os.PathLike) -> Path:
    return Path(f"{path}.meta.json")


def write_sidecar(
    path: str | os.PathLike,
    *,
    values: dict[str, Any],
    seed: int | None = None,
    started: float | None = None,
    inputs: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``<path>.meta.json`` describing how ``path`` was produced."""
    meta = {
        "output": str(path),
        "values": values,
        "config_hash": config_hash(values),
        "code_version": code_version(),
        "seed": seed,
        "packages": package_versions(),
        "command": sys.argv,
        "host": platform.node(),
        "cpu": cpu_record(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if gpu_name():
        meta["gpu"] = gpu_name()
    if started is not None:
        meta["wall_time_s"] = round(time.time() - started, 3)
    if inputs:
        meta["inputs"] = {p: _input_hash(p) for p in inputs}
    if extra:
        meta.update(extra)
    write_json_atomic(sidecar_path(path), meta)
    return meta


def _input_hash(p: str) -> dict[str, Any]:
    """The config hash recorded in an input's own sidecar, if it has one."""
    side = sidecar_path(p)
    if side.exists():
        try:
            return {"config_hash": json.loads(side.read_text()).get("config_hash")}
        except (OSError, json.JSONDecodeError):
            return {}
    return {}


def read_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    """The provenance sidecar of ``path``; one-line error when it is missing or unreadable."""
    from .errors import DataError

    side = sidecar_path(path)
    try:
        return json.loads(side.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{side}: cannot read the provenance of {path} ({exc})") from None
