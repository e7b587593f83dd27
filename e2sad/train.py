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
records; the schedule (:func:`set_lr`), the eps warm-up (:func:`warmup_factor`,
:class:`Warmup`), the step's own randomness (:func:`step_generator`) and the
bookkeeping after a step (:class:`_Bookkeeping`: the log, the progress line,
checkpoints and snapshots of :mod:`e2sad.trainlog`) are named helpers the loop calls.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .config.schema import schema_default, schema_enum
from .defenses import DEFENSES, smooth_labels
from .errors import ConfigError
from .models import build_model
from .provenance import config_hash
from .runtime import resolve_device
from .schedules import lr_at
from .trainlog import Checkpoint, Progress, Snapshots, StepLog, second_step_summary

#: the allowed values, the config schema's (its one home): ``compute.precision``, ``compute.compile``
#: and ``training.<dataset>.optimizer``
PRECISIONS = schema_enum("compute.precision")
OPTIMIZERS = schema_enum("training.*.optimizer")


def precision_context(precision: str, device: torch.device):
    """Autocast for bf16; TF32 switches for tf32 (CUDA only). fp32 on CUDA turns TF32 off for
    convolutions too: PyTorch lets cuDNN use TF32 by default, so fp32 would silently not be."""
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


#: ``compute.compile``: torch.compile modes for the training step (``none``: eager).  Measured on the
#: 2-core CPU (2026-11-26, F + B_in, batch 64, 1 thread): ``default`` 1.48x slower than eager after a
#: 30 s compile, so the key stays off there; on a GPU ``reduce-overhead`` (CUDA graphs) is the
#: mode to try.
COMPILE_MODES = schema_enum("compute.compile")
_COMPILE_ARG = {"default": None, "reduce-overhead": "reduce-overhead", "max-autotune": "max-autotune"}


@dataclass(frozen=True)
class Recipe:
    """What is trained.  Every field (and the number of training images) enters the run hash, so
    a checkpoint is resumed only by the recipe that wrote it.

    ``merge_clean`` passes ``merge_clean=True`` to the adversarial defenses: the clean term's
    parameter gradients come from the backward that gives the first attack step's input gradient
    (one pass fewer; the same training up to float rounding, see ``e2sad.defenses._clean_pass``
    and ``bench/README.md``).

    ``eps_warmup`` (``training.<dataset>.eps_warmup``, in [0, 1)): the fraction of the steps over
    which the defense's budget hyperparameters ramp up (:func:`warmup_factor`, :class:`Warmup`);
    0 (the default) trains at the full budget from the first step.

    A default the config has too is the schema's (:func:`e2sad.config.schema.schema_default`, read
    once at import); ``optimizer``, ``lr`` and ``network`` have none there (the config requires them).
    """

    dataset: str
    defense: str
    hparams: dict
    steps: int
    batch_size: int
    optimizer: str = "adam"
    lr: float = 1e-3
    schedule: str = schema_default("training.*.schedule")
    smoothing: float | None = None
    seed: int = 0
    precision: str = schema_default("compute.precision")
    network: str = "cnn_a1"
    normalization: str = schema_default("data.*.normalization")
    merge_clean: bool = schema_default("compute.merge_clean")
    eps_warmup: float = schema_default("training.*.eps_warmup")

    def defense_kwargs(self) -> dict:
        merge = self.merge_clean and self.defense != "natural"
        return {**self.hparams, **({"merge_clean": True} if merge else {})}

    def warmed(self) -> tuple[str, ...]:
        """The hyperparameters the eps warm-up ramps: the defense's declared ``budget=True`` ones
        (:meth:`e2sad.declare.Declaration.budget_names`); none when ``eps_warmup`` is 0 or the
        defense has none (natural training: the key changes nothing, so it is not in the hash)."""
        if not self.eps_warmup:
            return ()
        return DEFENSES.get_decl(self.defense, "defense").budget_names()

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
        if self.warmed():
            values["eps_warmup"] = self.eps_warmup
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
    ``snapshot_dir`` (robustness along training, the frontier).  Every default but ``name`` and
    the paths is the config schema's ``compute.*`` default.
    """

    name: str = "model"
    device: str = schema_default("compute.device")
    channels_last: bool = schema_default("compute.channels_last")
    compile_mode: str = schema_default("compute.compile")
    ckpt_path: str | Path | None = None
    ckpt_every: int = schema_default("compute.ckpt_every")
    progress_every: int = schema_default("compute.progress_every")
    log_every: int = schema_default("compute.log_every")
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
        with run.precision:  # lines 2-7: the defense's loss, its budget ramped while warming up
            out = run.loss(run.step_model, x, y, generator=generator, **run.warmup.at(step))
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
    warmup: Warmup  # the budget hyperparameters of a step, while the eps warm-up ramps them
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
    if not 0 <= recipe.eps_warmup < 1:
        raise ConfigError(f"eps_warmup: {recipe.eps_warmup!r} is not allowed; must be in [0, 1) (of the steps)")
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
        warmup=Warmup(recipe, decl),
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


def warmup_factor(step: int, steps: int, fraction: float) -> float:
    """The eps warm-up's factor at ``step`` (0-based) of ``steps``: min(1, (step + 1) / (fraction
    x steps)), a linear ramp that reaches 1 once ``fraction`` of the run is done and stays there;
    1 throughout when ``fraction`` is 0 (off).

    The remedy for adversarial training that a large eps leaves at chance from the start: Wong &
    Kolter 2018 (appendix B) ramp eps up linearly over the first epochs, as does GradAlign's
    ``train.py`` (Andriushchenko & Flammarion 2020: eps over the first 5 epochs on SVHN, and FGSM's
    step with it).  Here every hyperparameter declared ``budget=True`` (eps and the steps in pixel
    units) is multiplied by it, so that a step stays the same fraction of the ramped budget; the
    first step trains at 1 / (fraction x steps) of the budget, never at 0."""
    if fraction <= 0:
        return 1.0
    return min(1.0, (step + 1) / (fraction * steps))


class Warmup:
    """The keyword arguments that override a defense's budget hyperparameters at a step: each
    declared ``budget=True`` value (given, else its declared default) times
    :func:`warmup_factor`; none once the factor is 1, and none at all when the recipe's
    ``eps_warmup`` is 0 or its defense has no budget (the call is then the one without warm-up)."""

    def __init__(self, recipe: Recipe, decl):
        self.steps, self.fraction = recipe.steps, recipe.eps_warmup
        given = {**{p.name: p.default for p in decl.params if not p.required}, **recipe.hparams}
        self.values = {k: given[k] for k in recipe.warmed() if given.get(k) is not None}

    def at(self, step: int) -> dict:
        factor = warmup_factor(step, self.steps, self.fraction) if self.values else 1.0
        return {} if factor >= 1.0 else {k: v * factor for k, v in self.values.items()}


def set_lr(opt: torch.optim.Optimizer, step: int, recipe: Recipe) -> None:
    """The learning rate of ``step`` under the recipe's schedule (:func:`lr_at`); a constant
    rate stays the one the optimizer was made with."""
    if recipe.schedule != "constant":
        for group in opt.param_groups:
            group["lr"] = lr_at(step, recipe.steps, recipe.lr, recipe.schedule)


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
