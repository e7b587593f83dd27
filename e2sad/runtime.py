"""The process a job runs in: glibc's malloc tuning (:func:`keep_freed_memory`) and the one place
where a device name is resolved (:func:`device_name`, :func:`resolve_device`).

torch is imported inside the device functions, never at the top: the study plan and the command
line's start-up import this module and must not pay for torch (torch kept out of the plan's start-up).
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    import torch


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed memory in the process instead of returning it to the kernel.

    By default a tensor of more than ~128 KiB-32 MiB is an ``mmap`` of fresh pages, freed with
    ``munmap``, and the heap's free top is trimmed: each new activation of a pass (conv1's output
    at batch 64 is 6.4 MB) then page-faults on first touch, the kernel zeroing every page.
    Measured on this 2-core CPU (IFGSM-30 evaluation of 500 MNIST images, one thread): 460,000-
    530,000 page faults and 1.8-1.9 s of system time per job, 153,000 and 0.8 s (the imports'
    share) with the thresholds set (bench/README.md, "Allocator").  Values are unchanged; the
    process keeps its peak memory until it exits.  False where ``mallopt`` is absent (not glibc).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    # 32 MiB: glibc's maximum mmap threshold on 64-bit; a larger request still gets its own mmap
    ok = mallopt(m_mmap_threshold, 32 << 20) and mallopt(m_trim_threshold, 1 << 30)
    return bool(ok)


def device_name(device: str) -> str:
    """``compute.device`` with ``auto`` resolved: ``cuda`` when torch sees a GPU here, else ``cpu``;
    a name other than auto, cpu, cuda or cuda:N is one line."""
    if device == "auto":
        import torch  # torch kept out of the plan's start-up: only ``auto`` asks it

        return "cuda" if torch.cuda.is_available() else "cpu"
    if device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(f"device '{device}' unknown, allowed: auto, cpu, cuda, cuda:N")
    return device


def resolve_device(device: str) -> torch.device:
    """The torch device of :func:`device_name`; a CUDA device where CUDA is absent is one line."""
    import torch  # torch kept out of the plan's start-up (this module is imported there)

    name = device_name(device)
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{device}' requested but CUDA is not available; use auto or cpu")
    return torch.device(name)
