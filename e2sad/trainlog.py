"""What a training run keeps besides its final weights: the checkpoint it resumes from
(:class:`Checkpoint`), the per-step log (:class:`StepLog`, :func:`write_log`), the progress line
(:class:`Progress`), the snapshots along training (:class:`Snapshots`) and the second-step summary
of e2SAD (:func:`second_step_summary`).  :mod:`e2sad.train`'s loop calls them after every step."""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from pathlib import Path

import torch

from .errors import ConfigError
from .modelfile import save_model
from .provenance import atomic_path
from .serialization import safe_load, save


def _fmt_time(s: float) -> str:
    s = int(max(s, 0))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Checkpoint:
    """Model, optimizer and step counter at ``path`` (outside the workflow's outputs), written
    atomically every ``every`` steps, with the log so far beside it (``<path>.log.csv``).  A run
    resumes it only when it has the run hash that wrote it."""

    def __init__(self, path: str | Path | None, run_hash: str, every: int, name: str):
        self.path = Path(path) if path else None
        self.log = Path(f"{path}.log.csv") if path else None
        self.run_hash, self.every, self.name = run_hash, every, name

    def due(self, done: int) -> bool:
        return self.path is not None and done % self.every == 0

    def resume(self, model, opt, device, steps: int) -> tuple[int, list[dict]]:
        """(the step to start at, the log rows up to it); (0, []) without a matching checkpoint."""
        if self.path is None or not self.path.exists():
            return 0, []
        ck = safe_load(self.path, map_location=device)
        if ck.get("run_hash") != self.run_hash:
            print(f"[{self.name}] ignoring checkpoint {self.path}: it was made with other settings", file=sys.stderr)
            return 0, []
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optim"])
        start = int(ck["step"])
        rows = []
        if self.log.exists():
            with open(self.log) as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= start]
        print(f"[{self.name}] resuming from {self.path} at step {start}/{steps}", file=sys.stderr)
        return start, rows

    def write(self, model, opt, step: int, rows: list[dict]) -> None:
        # the log first: a kill between the two writes leaves a log ahead of the checkpoint
        # (trimmed to the checkpoint's step on resume), never one that lacks rows
        write_log(self.log, rows)
        save(
            {"model": model.state_dict(), "optim": opt.state_dict(), "step": step, "run_hash": self.run_hash}, self.path
        )


class StepLog:
    """One row per step (step, epoch, loss terms, time).  The loss terms stay on the device and
    reach Python every ``every`` steps in one transfer, where they are checked for non-finite
    values; on a GPU the host then queues work ahead instead of waiting for every step."""

    def __init__(self, rows: list[dict], every: int, batch_size: int, name: str):
        self.rows, self.every, self.batch_size, self.name = rows, every, batch_size, name
        self.pending: list[tuple] = []
        self.times: list[float] = []  # the seconds of each step of this process

    def add(self, step: int, epoch: int, seconds: float, out) -> None:
        self.times.append(seconds)
        self.pending.append((step, epoch, seconds, out.loss.detach(), out.terms))

    def full(self) -> bool:
        return len(self.pending) >= self.every

    def flush(self) -> None:
        """Move the pending steps' loss terms to Python in one transfer, check them, append the rows."""
        if not self.pending:
            return
        names = list(self.pending[0][4])
        values = torch.stack(
            [torch.stack([loss.float(), *(t[k].float() for k in names)]) for *_, loss, t in self.pending]
        )
        for (step, epoch, dt, _, _), vals in zip(self.pending, values.tolist()):
            row = {"step": step + 1, "epoch": epoch, "loss": vals[0], **dict(zip(names, vals[1:]))}
            row.update(step_s=round(dt, 6), images_per_s=round(self.batch_size / dt, 1))
            if not all(math.isfinite(v) for v in vals):
                first, last = self.pending[0][0] + 1, self.pending[-1][0] + 1
                raise ConfigError(
                    f"[{self.name}] loss became non-finite at step {step + 1} (steps {first}-{last} checked "
                    f"together): {row}; lower lr?"
                )
            self.rows.append(row)
        self.pending.clear()


class Progress:
    """A line on stderr every ``every`` steps and at the end: loss, images/s, elapsed, ETA."""

    def __init__(self, name: str, steps: int, batch_size: int, every: int, start: int):
        self.name, self.steps, self.batch_size, self.every, self.start = name, steps, batch_size, every, start
        self.t_begin = time.time()

    def due(self, done: int) -> bool:
        return bool(self.every) and (done % self.every == 0 or done == self.steps)

    def show(self, done: int, loss: float) -> None:
        now = time.time()
        rate = (done - self.start) / max(now - self.t_begin, 1e-9)
        eta = (self.steps - done) / max(rate, 1e-9)
        print(
            f"[{self.name}] step {done}/{self.steps} ({100 * done / self.steps:.1f}%) "
            f"loss {loss:.4f} | {self.batch_size * rate:.0f} img/s | "
            f"elapsed {_fmt_time(now - self.t_begin)} ETA {_fmt_time(eta)}",
            file=sys.stderr,
            flush=True,
        )


class Snapshots:
    """The model after each of ``steps``, kept as ``<folder>/step<N>.pt``."""

    def __init__(self, steps: tuple[int, ...], folder: str | Path | None):
        self.steps, self.folder = set(steps), Path(folder) if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)

    def after(self, done: int, model: torch.nn.Module) -> None:
        if self.folder and done in self.steps:
            save_model(model, self.folder / f"step{done}.pt")


def second_step_summary(rows: list[dict]) -> dict:
    """e2SAD: the mean size of the second-step gradient (eq. 3.2) over the log, read by the
    ablation; empty for the other defenses."""
    g2 = [float(r["g2_over_g1"]) for r in rows if "g2_over_g1" in r]
    g2abs = [float(r["g2_abs"]) for r in rows if "g2_abs" in r]
    if not g2:
        return {}
    return {"second_step_g2_abs_mean": sum(g2abs) / len(g2abs), "second_step_g2_over_g1_mean": sum(g2) / len(g2)}


def write_log(path, rows: list[dict]) -> None:
    keys: list[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)


def cleanup_checkpoint(ckpt_path) -> None:
    for p in (Path(ckpt_path), Path(f"{ckpt_path}.log.csv")):
        if p.exists():
            os.remove(p)
