"""Training: seeded, resumable, logged, on CPU or CUDA, fp32 / bf16 / tf32.

Determinism.  The model is initialised from ``seed``; the batch order of epoch
e is ``randperm`` from a generator seeded with (seed, e), and any randomness
inside a step (``random_start``) from a generator seeded with (seed, step).
So a run is a pure function of its arguments and a resumed run reproduces the
uninterrupted one bit for bit on the CPU.

Checkpoints.  Every ``ckpt_every`` steps the model, optimizer and step counter
are written atomically to ``ckpt_path`` (outside the workflow's declared
outputs, so Snakemake never deletes it); a restarted run with the same
arguments resumes there.  At most one interval of work is lost.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from pathlib import Path

import torch

from .defenses import DEFENSES, smooth_labels
from .errors import ConfigError
from .models import build_model
from .provenance import atomic_path, config_hash
from .serialization import safe_load, save

PRECISIONS = ("fp32", "bf16", "tf32")
#: learning-rate schedules over the run (``training.<dataset>.schedule``); see :func:`lr_at`
SCHEDULES = ("constant", "cyclic", "piecewise")


def lr_at(step: int, steps: int, lr: float, schedule: str = "constant") -> float:
    """The learning rate of step ``step`` (0-based) of ``steps``.

    - ``constant``: ``lr`` throughout (the paper: "AdamOptimizer with learning rate 0.001").
    - ``cyclic``: linear from 0 up to ``lr`` at 2/5 of training, then linearly down to 0 (Wong,
      Rice, Kolter 2020, FGSM-RS's one-cycle schedule; their MNIST peak is 5e-3).
    - ``piecewise``: ``lr``, divided by 10 at 1/2 and again at 3/4 of training (Madry et al. /
      Rice et al. 2020).
    """
    if schedule == "constant":
        return lr
    t = step / max(steps, 1)
    if schedule == "cyclic":
        return lr * (t / 0.4 if t <= 0.4 else max(0.0, (1 - t) / 0.6))
    if schedule == "piecewise":
        return lr * (1.0 if t < 0.5 else 0.1 if t < 0.75 else 0.01)
    raise ConfigError(f"schedule {schedule!r} is not allowed; allowed: {', '.join(SCHEDULES)}")


OPTIMIZERS = ("adam", "sgd")


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{device}' requested but CUDA is not available; use auto or cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(f"device '{device}' unknown, allowed: auto, cpu, cuda, cuda:N")
    return torch.device(device)


def precision_context(precision: str, device: torch.device):
    """Autocast for bf16; TF32 switches for tf32 (CUDA only). fp32 on CUDA turns TF32 off for
    convolutions too: PyTorch lets cuDNN use TF32 by default, so fp32 would silently not be."""
    import contextlib

    if precision not in PRECISIONS:
        raise ConfigError(f"precision '{precision}' unknown, allowed: {', '.join(PRECISIONS)}")
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    if precision == "tf32":
        if device.type != "cuda":
            raise ConfigError("precision 'tf32' needs a CUDA device; use fp32 or bf16 on the CPU")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    elif device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return contextlib.nullcontext()


def make_optimizer(name: str, params, lr: float):
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    raise ConfigError(f"optimizer '{name}' unknown, allowed: {', '.join(OPTIMIZERS)}")


def _fmt_time(s: float) -> str:
    s = int(max(s, 0))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


#: ``compute.compile``: torch.compile modes for the training step (``none``: eager).  Measured on the
#: 2-core CPU (2026-11-26, F + B_in, batch 64, 1 thread): ``default`` 1.48x slower than eager after a
#: 30 s compile, so the key stays off there; on a GPU ``reduce-overhead`` (CUDA graphs) is the
#: mode to try.
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")
_COMPILE_ARG = {"default": None, "reduce-overhead": "reduce-overhead", "max-autotune": "max-autotune"}


def train(
    *,
    data: dict,
    dataset: str,
    defense: str,
    hparams: dict,
    steps: int,
    batch_size: int,
    optimizer: str = "adam",
    lr: float = 1e-3,
    schedule: str = "constant",
    smoothing: float | None = None,
    seed: int = 0,
    device: str = "auto",
    precision: str = "fp32",
    network: str = "cnn_a1",
    normalization: str = "none",
    ckpt_path: str | Path | None = None,
    ckpt_every: int = 500,
    log_path: str | Path | None = None,
    progress_every: int = 50,
    name: str = "model",
    stop_after: int | None = None,
    merge_clean: bool = False,
    log_every: int = 50,
    channels_last: bool = False,
    compile_mode: str = "none",
    snapshots: tuple[int, ...] = (),
    snapshot_dir: str | Path | None = None,
) -> tuple[torch.nn.Module, dict]:
    """Train one model; returns it and a summary (step times, final loss terms).

    ``data`` holds ``x_train``/``y_train`` already on the device (and ``classes``);
    ``dataset`` is its name (for the record); ``network`` / ``normalization`` pick
    the model of :mod:`e2sad.models` for the data's input shape.  ``stop_after``
    ends the run early after that many steps of this process (for tests of
    resumption); the checkpoint is then left in place.  ``merge_clean`` passes
    ``merge_clean=True`` to the adversarial defenses: the clean term's parameter
    gradients come from the backward that gives the first attack step's input
    gradient (one pass fewer; the same training up to float rounding, see
    ``e2sad.defenses._clean_pass`` and ``bench/README.md``).  ``log_every``: the
    loss terms of each step stay on the device and are moved to Python (one
    transfer for all of them) and checked for non-finite values every this many
    steps, at progress lines and before checkpoints; on a GPU the host then
    queues work ahead instead of waiting for every step.  The log keeps one row
    per step either way.  ``compile_mode`` (``compute.compile``, opt-in): the training step runs
    the model through ``torch.compile`` with that mode (``default``, ``reduce-overhead``: CUDA
    graphs on a GPU, ``max-autotune``); ``none`` runs it eagerly.  The weights are the same module's.
    """
    if steps < 1 or batch_size < 1:
        raise ConfigError(f"steps={steps} and batch_size={batch_size} must both be >= 1")
    dev = resolve_device(device)
    decl = DEFENSES.get_decl(defense, "defense")
    loss_fn = decl.fn
    hparams = decl.check(hparams, f"defense {defense}")
    x_all, y_all = data["x_train"].to(dev), data["y_train"].to(dev)
    n = x_all.shape[0]
    if batch_size > n:
        raise ConfigError(f"batch_size={batch_size} exceeds the {n} training images")
    per_epoch = n // batch_size

    run_values = dict(
        dataset=dataset,
        defense=defense,
        hparams=hparams,
        steps=steps,
        batch_size=batch_size,
        optimizer=optimizer,
        lr=lr,
        smoothing=smoothing,
        seed=seed,
        precision=precision,
        network=network,
        normalization=normalization,
        n_train=n,
    )
    step_kw = {}
    if merge_clean and defense != "natural":
        run_values["merge_clean"] = True  # float rounding differs: do not resume across this switch
        step_kw["merge_clean"] = True
    if schedule != "constant":  # a constant rate keeps the run hash (and checkpoints) of earlier versions
        lr_at(0, steps, lr, schedule)
        run_values["schedule"] = schedule
    run_hash = config_hash(run_values)

    torch.manual_seed(seed)
    shape = tuple(x_all.shape[1:])
    model = build_model(
        network, normalization, shape[0], shape[1], int(data.get("classes", 10)), channels_last=channels_last
    ).to(dev)
    if compile_mode not in COMPILE_MODES:
        raise ConfigError(f"compile mode {compile_mode!r} is not allowed; allowed: {', '.join(COMPILE_MODES)}")
    step_model = model if compile_mode == "none" else torch.compile(model, mode=_COMPILE_ARG[compile_mode])
    opt = make_optimizer(optimizer, model.parameters(), lr)
    params = [p for p in model.parameters()]
    start = 0
    log_rows: list[dict] = []
    ckpt_path = Path(ckpt_path) if ckpt_path else None
    log_tmp = Path(f"{ckpt_path}.log.csv") if ckpt_path else None
    if ckpt_path and ckpt_path.exists():
        ck = safe_load(ckpt_path, map_location=dev)
        if ck.get("run_hash") == run_hash:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optim"])
            start = int(ck["step"])
            if log_tmp and log_tmp.exists():
                with open(log_tmp) as fh:
                    log_rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= start]
            print(f"[{name}] resuming from {ckpt_path} at step {start}/{steps}", file=sys.stderr)
        else:
            print(f"[{name}] ignoring checkpoint {ckpt_path}: it was made with other settings", file=sys.stderr)

    ctx = precision_context(precision, dev)
    snap_steps = set(snapshots)
    if snapshot_dir:
        Path(snapshot_dir).mkdir(parents=True, exist_ok=True)
    model.train()
    perm = None
    perm_epoch = -1
    t_begin = time.time()
    done_here = 0
    step_times: list[float] = []
    pending: list[tuple] = []
    for step in range(start, steps):
        t0 = time.perf_counter()
        epoch, b = divmod(step, per_epoch)
        if epoch != perm_epoch:
            g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
            perm = torch.randperm(n, generator=g).to(dev)
            perm_epoch = epoch
        idx = perm[b * batch_size : (b + 1) * batch_size]
        x, y = x_all[idx], smooth_labels(y_all[idx], smoothing)
        step_gen = None
        if decl.extra.get("random", lambda hp: False)(hparams):
            step_gen = torch.Generator(device=dev).manual_seed(seed * 1_000_003 + 7919 * step + 1)
        if schedule != "constant":
            for group in opt.param_groups:
                group["lr"] = lr_at(step, steps, lr, schedule)
        with ctx:
            out = loss_fn(step_model, x, y, generator=step_gen, **hparams, **step_kw)
        opt.zero_grad(set_to_none=True)
        out.loss.backward(inputs=params)
        opt.step()
        dt = time.perf_counter() - t0
        if snapshot_dir and step + 1 in snap_steps:  # robustness along training (the frontier)
            save_model(model, Path(snapshot_dir) / f"step{step + 1}.pt")
        step_times.append(dt)
        # the loss terms stay on the device; they reach Python every log_every steps (one transfer)
        pending.append((step, epoch, dt, out.loss.detach(), out.terms))
        done_here += 1
        last = step + 1 == steps
        show = progress_every and ((step + 1) % progress_every == 0 or last)
        saving = bool(ckpt_path) and (((step + 1) % ckpt_every == 0) or stop_after is not None) and not last
        if len(pending) >= log_every or last or show or saving:
            _flush_log(pending, log_rows, batch_size, name)
        if show:
            now = time.time()
            rate = (step + 1 - start) / max(now - t_begin, 1e-9)
            eta = (steps - step - 1) / max(rate, 1e-9)
            print(
                f"[{name}] step {step + 1}/{steps} ({100 * (step + 1) / steps:.1f}%) "
                f"loss {log_rows[-1]['loss']:.4f} | {batch_size * rate:.0f} img/s | "
                f"elapsed {_fmt_time(now - t_begin)} ETA {_fmt_time(eta)}",
                file=sys.stderr,
                flush=True,
            )
        if ckpt_path and ((step + 1) % ckpt_every == 0) and not last:
            _write_checkpoint(ckpt_path, log_tmp, model, opt, step + 1, run_hash, log_rows)
        if stop_after is not None and done_here >= stop_after and not last:
            _write_checkpoint(ckpt_path, log_tmp, model, opt, step + 1, run_hash, log_rows)
            break
    model.eval()
    times = sorted(step_times[1:] or step_times)
    g2 = [float(r["g2_over_g1"]) for r in log_rows if "g2_over_g1" in r]
    g2abs = [float(r["g2_abs"]) for r in log_rows if "g2_abs" in r]
    summary = {
        "run_hash": run_hash,
        "values": run_values,
        "steps_done": start + done_here,
        "resumed_from": start,
        "median_step_s": times[len(times) // 2] if times else None,
        "mean_step_s": sum(times) / len(times) if times else None,
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "log_rows": log_rows,
    }
    if g2:  # e2SAD: size of the second-step gradient (eq. 3.2), read by the ablation
        summary["second_step_g2_abs_mean"] = sum(g2abs) / len(g2abs)
        summary["second_step_g2_over_g1_mean"] = sum(g2) / len(g2)
    summary["final_terms"] = {k: v for k, v in log_rows[-1].items() if k not in ("step", "epoch")} if log_rows else {}
    return model, summary


def _flush_log(pending: list, log_rows: list, batch_size: int, name: str) -> None:
    """Move the pending steps' loss terms to Python in one transfer, check them, append the rows."""
    if not pending:
        return
    names = list(pending[0][4])
    values = torch.stack([torch.stack([loss.float(), *(t[k].float() for k in names)]) for *_, loss, t in pending])
    for (step, epoch, dt, _, _), vals in zip(pending, values.tolist()):
        row = {"step": step + 1, "epoch": epoch, "loss": vals[0], **dict(zip(names, vals[1:]))}
        row.update(step_s=round(dt, 6), images_per_s=round(batch_size / dt, 1))
        if not all(math.isfinite(v) for v in vals):
            first, last = pending[0][0] + 1, pending[-1][0] + 1
            raise ConfigError(
                f"[{name}] loss became non-finite at step {step + 1} (steps {first}-{last} checked together): "
                f"{row}; lower lr?"
            )
        log_rows.append(row)
    pending.clear()


def _write_checkpoint(ckpt_path, log_tmp, model, opt, step, run_hash, log_rows):
    # the log first: a kill between the two writes leaves a log ahead of the checkpoint
    # (trimmed to the checkpoint's step on resume), never one that lacks rows
    if log_tmp is not None:
        write_log(log_tmp, log_rows)
    save({"model": model.state_dict(), "optim": opt.state_dict(), "step": step, "run_hash": run_hash}, ckpt_path)


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


def save_model(model: torch.nn.Module, path: str | Path) -> None:
    """A plain state_dict, loadable with ``torch.load(weights_only=True)``."""
    save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)


def load_model(
    path: str | Path,
    network: str,
    normalization: str = "none",
    shape: tuple[int, ...] = (1, 28, 28),
    classes: int = 10,
    device: str | torch.device = "cpu",
    channels_last: bool = False,
) -> torch.nn.Module:
    """A model saved by :func:`save_model`, rebuilt as ``network`` for inputs of ``shape`` (C, H, W)
    (``channels_last``: see :func:`e2sad.models.build_model`)."""
    state = safe_load(path, map_location=device)
    model = build_model(network, normalization, shape[0], shape[1], classes, channels_last=channels_last)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"{path}: not a {network} state_dict for inputs {'x'.join(map(str, shape))} "
            f"({str(exc).splitlines()[0][:160]})"
        ) from None
    return model.to(device).eval()


def cleanup_checkpoint(ckpt_path) -> None:
    for p in (Path(ckpt_path), Path(f"{ckpt_path}.log.csv")):
        if p.exists():
            os.remove(p)
