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

Shape.  :func:`train` is Algorithm 1's loop: the seeded minibatch
(:class:`SeededBatches`), the defense's loss, the optimizer step.  What a run
is (:class:`Recipe`, hashed) and how it runs (:class:`RunOptions`) are two
records; the schedule (:func:`set_lr`), the step's own randomness
(:func:`step_generator`), the log (:class:`StepLog`), the progress line
(:class:`Progress`), checkpoints (:class:`Checkpoint`) and snapshots
(:class:`Snapshots`) are named helpers the loop calls.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Recipe:
    """What is trained.  Every field (and the number of training images) enters the run hash, so
    a checkpoint is resumed only by the recipe that wrote it.

    ``merge_clean`` passes ``merge_clean=True`` to the adversarial defenses: the clean term's
    parameter gradients come from the backward that gives the first attack step's input gradient
    (one pass fewer; the same training up to float rounding, see ``e2sad.defenses._clean_pass``
    and ``bench/README.md``).
    """

    dataset: str
    defense: str
    hparams: dict
    steps: int
    batch_size: int
    optimizer: str = "adam"
    lr: float = 1e-3
    schedule: str = "constant"
    smoothing: float | None = None
    seed: int = 0
    precision: str = "fp32"
    network: str = "cnn_a1"
    normalization: str = "none"
    merge_clean: bool = False

    def defense_kwargs(self) -> dict:
        merge = self.merge_clean and self.defense != "natural"
        return {**self.hparams, **({"merge_clean": True} if merge else {})}

    def run_values(self, n_train: int) -> dict:
        """The values the run hash is taken of (recorded in the model's sidecar)."""
        values = dict(
            dataset=self.dataset,
            defense=self.defense,
            hparams=self.hparams,
            steps=self.steps,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            lr=self.lr,
            smoothing=self.smoothing,
            seed=self.seed,
            precision=self.precision,
            network=self.network,
            normalization=self.normalization,
            n_train=n_train,
        )
        # left out when off, so that runs of earlier versions keep their hash (and checkpoints)
        if "merge_clean" in self.defense_kwargs():
            values["merge_clean"] = True  # float rounding differs: do not resume across this switch
        if self.schedule != "constant":
            values["schedule"] = self.schedule
        return values


@dataclass(frozen=True)
class RunOptions:
    """How a run executes and what it keeps besides the weights; none of it enters the run hash.

    ``compile_mode`` (``compute.compile``, opt-in): the step runs the model through
    ``torch.compile`` with that mode (``reduce-overhead``: CUDA graphs on a GPU); the weights are
    the same module's.  ``log_every``: the loss terms stay on the device and reach Python every
    this many steps, at progress lines and before checkpoints (:class:`StepLog`).  ``stop_after``
    ends the run after that many steps of this process (for tests of resumption), leaving the
    checkpoint in place.  ``snapshots``: the steps after which the model is kept in
    ``snapshot_dir`` (robustness along training, the frontier).
    """

    name: str = "model"
    device: str = "auto"
    channels_last: bool = False
    compile_mode: str = "none"
    ckpt_path: str | Path | None = None
    ckpt_every: int = 500
    progress_every: int = 50
    log_every: int = 50
    stop_after: int | None = None
    snapshots: tuple[int, ...] = ()
    snapshot_dir: str | Path | None = None


def train(
    *, data: dict, recipe: Recipe | None = None, options: RunOptions | None = None, **by_name
) -> tuple[torch.nn.Module, dict]:
    """Train one model (Algorithm 1); returns it and a summary (step times, final loss terms).

    ``data`` holds ``x_train``/``y_train`` and ``classes`` (default 10); the input shape comes
    from the images.  The run is ``recipe`` executed with ``options``; ``by_name`` gives or
    overrides their fields by name: ``train(data=d, dataset="mnist", defense="natural",
    hparams={}, steps=100, batch_size=64, seed=0, progress_every=0)``.
    """
    recipe, options = _recipe_and_options(recipe, options, by_name)
    run = _setup(data, recipe, options)
    model, opt, params = run.model, run.opt, list(run.model.parameters())
    model.train()
    for step in range(run.start, recipe.steps):
        t0 = time.perf_counter()
        x, y = run.batches.draw(step)  # Algorithm 1, line 1: the seeded minibatch
        generator = step_generator(recipe.seed, step, run.device) if run.random else None
        set_lr(opt, step, recipe)
        with run.precision:
            out = run.loss(run.step_model, x, y, generator=generator)  # lines 2-7: the defense's loss
        opt.zero_grad(set_to_none=True)
        out.loss.backward(inputs=params)
        opt.step()  # line 8: the update of theta
        if run.book.after_step(step, time.perf_counter() - t0, out, model, opt):
            break
    model.eval()
    return model, run.book.summary(run.run_hash, run.values, run.device)


def _recipe_and_options(recipe: Recipe | None, options: RunOptions | None, by_name: dict):
    names = {kind: {f.name for f in dataclasses.fields(kind)} for kind in (Recipe, RunOptions)}
    unknown = set(by_name) - names[Recipe] - names[RunOptions]
    if unknown:
        raise TypeError(f"train() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
    of_recipe = {k: v for k, v in by_name.items() if k in names[Recipe]}
    of_options = {k: v for k, v in by_name.items() if k in names[RunOptions]}
    recipe = dataclasses.replace(recipe, **of_recipe) if recipe else Recipe(**of_recipe)
    options = dataclasses.replace(options, **of_options) if options else RunOptions(**of_options)
    return recipe, options


@dataclass
class _Run:
    """What the loop of :func:`train` works with, built by :func:`_setup`."""

    device: torch.device
    model: torch.nn.Module
    step_model: Callable  # the model, or its torch.compile wrapper
    opt: torch.optim.Optimizer
    loss: Callable  # the defense with its hyperparameters: loss(model, x, y, generator=) -> Step
    random: bool  # whether a step of this defense draws randomness of its own
    batches: SeededBatches
    precision: contextlib.AbstractContextManager
    values: dict  # the recipe's run values (checked hyperparameters), hashed to run_hash
    run_hash: str
    start: int  # the step the run starts at (> 0 when resumed from a checkpoint)
    book: _Bookkeeping


def _setup(data: dict, recipe: Recipe, options: RunOptions) -> _Run:
    """Check the recipe, build the seeded model and the optimizer, resume a matching checkpoint."""
    if recipe.steps < 1 or recipe.batch_size < 1:
        raise ConfigError(f"steps={recipe.steps} and batch_size={recipe.batch_size} must both be >= 1")
    dev = resolve_device(options.device)
    decl = DEFENSES.get_decl(recipe.defense, "defense")
    recipe = dataclasses.replace(recipe, hparams=decl.check(recipe.hparams, f"defense {recipe.defense}"))
    classes = int(data.get("classes", 10))
    batches = SeededBatches(data["x_train"].to(dev), data["y_train"].to(dev), recipe, classes)
    lr_at(0, recipe.steps, recipe.lr, recipe.schedule)  # an unknown schedule fails before any work
    values = recipe.run_values(batches.n)
    run_hash = config_hash(values)

    torch.manual_seed(recipe.seed)
    c, size = batches.x.shape[1:3]
    model = build_model(recipe.network, recipe.normalization, c, size, classes, channels_last=options.channels_last)
    model = model.to(dev)
    step_model = _compiled(model, options.compile_mode)
    opt = make_optimizer(recipe.optimizer, model.parameters(), recipe.lr)
    ckpt = Checkpoint(options.ckpt_path, run_hash, options.ckpt_every, options.name)
    start, rows = ckpt.resume(model, opt, dev, recipe.steps)
    return _Run(
        device=dev,
        model=model,
        step_model=step_model,
        opt=opt,
        loss=functools.partial(decl.fn, **recipe.defense_kwargs()),
        random=bool(decl.extra.get("random", lambda hp: False)(recipe.hparams)),
        batches=batches,
        precision=precision_context(recipe.precision, dev),
        values=values,
        run_hash=run_hash,
        start=start,
        book=_Bookkeeping(
            recipe,
            options,
            ckpt,
            StepLog(rows, options.log_every, recipe.batch_size, options.name),
            start,
            batches.per_epoch,
        ),
    )


def _compiled(model: torch.nn.Module, mode: str):
    if mode not in COMPILE_MODES:
        raise ConfigError(f"compile mode {mode!r} is not allowed; allowed: {', '.join(COMPILE_MODES)}")
    return model if mode == "none" else torch.compile(model, mode=_COMPILE_ARG[mode])


class SeededBatches:
    """The minibatches of a run: epoch e visits the images in the order of ``randperm`` from a
    generator seeded with (seed, e), in slices of ``batch_size`` (a remainder is left out), with
    the labels smoothed over the data's ``classes`` (section 3.2.4)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, recipe: Recipe, classes: int):
        self.x, self.y, self.n = x, y, x.shape[0]
        if recipe.batch_size > self.n:
            raise ConfigError(f"batch_size={recipe.batch_size} exceeds the {self.n} training images")
        self.batch_size, self.seed = recipe.batch_size, recipe.seed
        self.smoothing, self.classes = recipe.smoothing, classes
        self.per_epoch = self.n // self.batch_size
        self._epoch, self._perm = -1, None

    def draw(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, targets) of ``step`` (0-based)."""
        epoch, b = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.n, generator=g).to(self.x.device)
            self._epoch = epoch
        idx = self._perm[b * self.batch_size : (b + 1) * self.batch_size]
        return self.x[idx], smooth_labels(self.y[idx], self.smoothing, self.classes)


def step_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    """The generator of a step's own draws (random starts), seeded with (seed, step): a resumed
    run draws what the uninterrupted one drew."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + 7919 * step + 1)


def set_lr(opt: torch.optim.Optimizer, step: int, recipe: Recipe) -> None:
    """The learning rate of ``step`` under the recipe's schedule (:func:`lr_at`); a constant
    rate stays the one the optimizer was made with."""
    if recipe.schedule != "constant":
        for group in opt.param_groups:
            group["lr"] = lr_at(step, recipe.steps, recipe.lr, recipe.schedule)


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


class _Bookkeeping:
    """Everything a step leaves besides the new weights: snapshot, log row, progress line,
    checkpoint; and the summary of the run."""

    def __init__(self, recipe: Recipe, options: RunOptions, ckpt: Checkpoint, log: StepLog, start: int, per_epoch: int):
        self.steps, self.start, self.per_epoch, self.stop_after = recipe.steps, start, per_epoch, options.stop_after
        self.ckpt, self.log, self.done_here = ckpt, log, 0
        self.progress = Progress(options.name, recipe.steps, recipe.batch_size, options.progress_every, start)
        self.snapshots = Snapshots(options.snapshots, options.snapshot_dir)

    def after_step(self, step: int, seconds: float, out, model, opt) -> bool:
        """Record step ``step`` (0-based); True when this process is to stop (``stop_after``)."""
        done = step + 1
        self.done_here += 1
        self.snapshots.after(done, model)
        self.log.add(step, step // self.per_epoch, seconds, out)
        last = done == self.steps
        stop = self.stop_after is not None and self.done_here >= self.stop_after and not last
        saving = self.ckpt.path is not None and (self.ckpt.due(done) or stop) and not last
        show = self.progress.due(done)
        if self.log.full() or last or show or saving:
            self.log.flush()
        if show:
            self.progress.show(done, self.log.rows[-1]["loss"])
        if saving:
            self.ckpt.write(model, opt, done, self.log.rows)
        return stop

    def summary(self, run_hash: str, values: dict, device: torch.device) -> dict:
        times = sorted(self.log.times[1:] or self.log.times)
        rows = self.log.rows
        return {
            "run_hash": run_hash,
            "values": values,
            "steps_done": self.start + self.done_here,
            "resumed_from": self.start,
            "median_step_s": times[len(times) // 2] if times else None,
            "mean_step_s": sum(times) / len(times) if times else None,
            "device": str(device),
            "threads": torch.get_num_threads(),
            "log_rows": rows,
            **second_step_summary(rows),
            "final_terms": {k: v for k, v in rows[-1].items() if k not in ("step", "epoch")} if rows else {},
        }


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
