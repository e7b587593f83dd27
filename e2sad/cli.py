"""Command line: ``python -m e2sad <subcommand> ...``; the workflow's rules call this.

Every input, output and hyperparameter is an explicit option; a defense's or an
attack's options come from its declaration (:mod:`e2sad.declare`), a default
that the config has too from the config's schema.  Each subcommand is one
function registered with its options by :func:`command` (option groups shared
by several are declared once, below); it parses, calls one library function,
and writes its outputs with a ``.meta.json`` provenance sidecar
(:func:`_sidecars`).  Bad input gives one line, ``e2sad: error: ...``, naming
the file or value, and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import ConfigError, E2sadError

# ---- declaring options


@dataclass(frozen=True)
class Opt:
    """One ``parser.add_argument(*flags, **kw)``; a :class:`Lazy` value is computed when the
    subcommand's parser is built (it may import torch, which a table job must not)."""

    flags: tuple[str, ...]
    kw: dict

    def add_to(self, parser) -> None:
        parser.add_argument(*self.flags, **{k: v.fn() if isinstance(v, Lazy) else v for k, v in self.kw.items()})


@dataclass(frozen=True)
class Lazy:
    fn: Callable[[], object]


def opt(*flags: str, **kw) -> Opt:
    return Opt(flags, kw)


def schema(key: str) -> Lazy:
    """The config schema's default of ``key`` (``compute.device``; ``*`` for a name), so that an
    option's default is the config's, stated once."""

    def read():
        from .config import schema_default

        value = schema_default(key)
        return tuple(value) if isinstance(value, list) else value

    return Lazy(read)


def _attribute(module: str, name: str):
    """``e2sad.<module>.<name>``, imported by the import statement's machinery (``__import__``, which
    ``python -X importtime`` reports, unlike ``importlib.import_module``)."""
    return getattr(__import__(f"e2sad.{module}", fromlist=[name]), name)


def names(module: str, table: str, keep: Callable | None = None, joined: bool = False) -> Lazy:
    """The names in ``e2sad.<module>.<table>`` (a registry or a dict) that ``keep`` keeps, read
    when the parser is built: a list (choices), or one string (``joined``, a help text)."""

    def read():
        items = _attribute(module, table)
        found = [n for n in items if keep is None or keep(items[n])]
        return ", ".join(found) if joined else found

    return Lazy(read)


def declared(module: str, registry: str) -> Callable:
    """The options of every declared hyperparameter of a registry (:mod:`e2sad.declare`)."""

    def add(parser) -> None:
        _attribute(module, registry).add_cli_options(parser)

    return add


@dataclass(frozen=True)
class Command:
    help: str
    options: tuple  # Opt, or a function adding options to a parser
    run: Callable


#: subcommand -> its registration; filled by @command
COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, *options):
    """Register the decorated ``fn(args)`` as subcommand ``name`` with ``options``: :class:`Opt`,
    functions adding options to the parser, or tuples of these (a shared group)."""

    def flat(items):
        for item in items:
            yield from flat(item) if isinstance(item, tuple) else (item,)

    def deco(fn):
        COMMANDS[name] = Command(help, tuple(flat(options)), fn)
        return fn

    return deco


# ---- values of options (a bad one is one line naming it)


def _positive_int(s: str) -> int:
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{s} is not allowed, must be an integer >= 1")
    return v


def _frac(s: str) -> float:
    """A float, also written as a fraction like 24/255."""
    try:
        if "/" in s:
            a, b = s.split("/")
            return float(a) / float(b)
        return float(s)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None


def _eps(s: str) -> float:
    v = _frac(s)
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"eps {s} is not allowed, must be in (0, 1]")
    return v


def _unit(s: str) -> float:
    v = _frac(s)
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"{s} is not allowed, must be in [0, 1]")
    return v


def _smoothing(s: str):
    if s.lower() in ("none", "hard", "1", "1.0"):
        return None
    v = _frac(s)
    if not 0.1 < v <= 1:
        raise argparse.ArgumentTypeError(f"label smoothing {s} is not allowed, must be in (0.1, 1] or none")
    return v


def _json(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc})") from None


# ---- option groups shared by several subcommands

RUN = (
    opt("--device", default=schema("compute.device"), help="auto, cpu, cuda or cuda:N (default %(default)s)"),
    opt("--threads", type=_positive_int, default=None, help="torch intra-op threads"),
    opt("--seed", type=int, default=0),
    opt(
        "--channels-last",
        action="store_true",
        help="model in NHWC memory order (compute.channels_last: faster on the CPU; equal within float rounding)",
    ),
)


#: the network of a dataset's declaration; input shape and classes come from the data
NET = (
    opt("--dataset", required=True, help="dataset name (checked against the prepared file)"),
    opt(
        "--network", default="cnn_a1", choices=names("models", "NETWORKS"), help="cnn_a1: Table A.1, cnn_a2: Table A.2"
    ),
    opt(
        "--normalization",
        default=schema("data.*.normalization"),
        choices=names("models", "NORMALIZATIONS"),
        help="input normalization layer",
    ),
)
DATA = opt("--data", required=True, help="prepared tensor file")
MODEL = (opt("--name", required=True, help="model name written in the rows"), opt("--model", required=True))
EVAL = (
    *MODEL,
    *NET,
    DATA,
    opt("--n", type=_positive_int, default=None, help="first n test images (default all)"),
    opt("--batch-size", type=_positive_int, default=schema("evaluation.batch_size")),
    *RUN,
)


ATTACK = (
    opt("--attack", required=True, help=names("attacks", "ATTACKS", joined=True)),
    opt("--attack-name", default=None, help="the attack's name in the config"),
    declared("attacks", "ATTACKS"),
)
TABLE_OUTS = (opt("--out-csv", required=True), opt("--out-tex", required=True), opt("--out-html", required=True))
FIG = opt("--out-fig", nargs="+", required=True, help="figure files (.pdf, .png)")


def spec(help: str, **kw) -> Opt:
    return opt("--spec", type=_json, help=f"JSON: {help}", **(kw or {"required": True}))


def rows(help: str = "JSON result rows") -> Opt:
    return opt("--rows", nargs="+", required=True, help=help)


def models(help: str) -> Opt:
    return opt("--models", nargs="+", required=True, help=help)


# ---- what every subcommand shares


def _sidecars(outputs, a, *, inputs=(), values=None, seed=None, extra=None) -> None:
    """The provenance sidecar of every output.  ``values``: given, else the spec of a table job
    (its other options are its inputs and outputs), else the parsed options; ``seed``: given, else
    the ``--seed`` of a job that has one."""
    from .provenance import write_sidecar

    if values is None:
        spec = getattr(a, "spec", None)
        hidden = ("func", "stop_after", "started")
        values = {"spec": spec} if spec is not None else {k: v for k, v in vars(a).items() if k not in hidden}
    seed = getattr(a, "seed", None) if seed is None else seed
    for o in outputs:
        if o:
            write_sidecar(o, values=values, seed=seed, started=a.started, inputs=list(inputs) or None, extra=extra)


def _load_data(a, device, splits=None) -> dict:
    """The prepared file of ``--data``, checked to hold ``--dataset``."""
    from .data import load_prepared

    data = load_prepared(a.data, device, **({"splits": splits} if splits else {}))
    if data["dataset"] != a.dataset:
        raise ConfigError(f"{a.data} holds {data['dataset']}, not {a.dataset}")
    return data


def _load_eval(a):
    """(model, first n test images, their labels) for an evaluation subcommand; an ``--n`` beyond
    the test set is one line (:func:`e2sad.evaluate.first_n`)."""
    from .evaluate import first_n
    from .train import load_model, resolve_device

    dev = resolve_device(a.device)
    data = _load_data(a, dev, splits=("test",))
    x, y = first_n(data, a.n)
    model = load_model(a.model, a.network, a.normalization, tuple(x.shape[1:]), data["classes"], dev, a.channels_last)
    return model, x, y


def _attack_params(a) -> dict:
    from .attacks import ATTACKS

    return ATTACKS.from_cli(a.attack, a)


# ---- data and training


def _fields(record: type, a, **others) -> dict:
    """The fields of dataclass ``record``: ``others``, the rest from the options of the same name."""
    return {f.name: others[f.name] if f.name in others else getattr(a, f.name) for f in dataclasses.fields(record)}


@command(
    "prepare-data",
    "convert a dataset's files (idx, svhn_mat, npz) to one tensor file",
    opt("--dataset", required=True, help="the dataset's name (stored in the file)"),
    opt("--format", default="idx", choices=names("data", "FORMATS"), help="file format of --src"),
    opt("--src", required=True, help="folder with the original files"),
    opt("--download", action="store_true", help="download with torchvision if missing"),
    opt("--torchvision", default=None, help="torchvision dataset class to download (idx: MNIST, ...)"),
    opt("--channels", type=_positive_int, default=None),
    opt("--size", type=_positive_int, default=None, help="image side in pixels"),
    opt("--classes", type=_positive_int, default=10),
    opt(
        "--pixel-range",
        type=float,
        nargs=2,
        default=schema("data.*.pixel_range"),
        help="raw pixel range mapped to [0, 1] (default %(default)s)",
    ),
    opt("--out", required=True),
)
def cmd_prepare(a):
    from .data import prepare, source_digests, source_files

    shapes = prepare(
        a.dataset,
        a.format,
        a.src,
        a.out,
        a.download,
        torchvision=a.torchvision,
        channels=a.channels,
        size=a.size,
        classes=a.classes,
        pixel_range=tuple(a.pixel_range),
    )
    present = [f for f in source_files(a.format, a.src) if f.is_file()]
    _sidecars([a.out], a, extra={"shapes": shapes, "sources": source_digests(present)})
    print(f"prepared {a.dataset}: " + ", ".join(f"{k} {tuple(v)}" for k, v in shapes.items()), file=sys.stderr)


@command(
    "train",
    "train one model with one defense",
    opt("--name", default="model", help="model name, for logs"),
    NET,
    DATA,
    opt("--defense", required=True, help=names("defenses", "DEFENSES", joined=True)),
    declared("defenses", "DEFENSES"),
    opt("--smoothing", type=_smoothing, default=None, help="correct-class probability, or none"),
    opt("--steps", type=_positive_int, required=True, help="training iterations"),
    opt("--batch-size", type=_positive_int, required=True),
    opt("--optimizer", default="adam", help="adam or sgd"),
    opt("--lr", type=float, default=1e-3, help="learning rate (the peak of a cyclic schedule)"),
    opt(
        "--schedule", default=schema("training.*.schedule"), help="learning-rate schedule: constant, cyclic, piecewise"
    ),
    opt("--precision", default=schema("compute.precision"), help="fp32, bf16, tf32"),
    opt(
        "--merge-clean",
        action="store_true",
        help="one backward gives the clean loss's parameter grads and the first attack gradient",
    ),
    opt(
        "--compile",
        default=schema("compute.compile"),
        choices=names("train", "COMPILE_MODES"),
        help="torch.compile mode for the training step (compute.compile; none: eager)",
    ),
    opt("--ckpt", default=None, help="checkpoint path (kept outside the outputs)"),
    opt("--ckpt-every", type=_positive_int, default=schema("compute.ckpt_every")),
    opt("--progress-every", type=int, default=schema("compute.progress_every"), help="0: no progress lines"),
    opt(
        "--log-every",
        type=_positive_int,
        default=schema("compute.log_every"),
        help="move the loss terms to the host every N steps",
    ),
    opt("--snapshots", type=_positive_int, nargs="*", default=[], help="steps after which the model is kept"),
    opt("--snapshot-dir", default=None, help="folder of the snapshots (step<N>.pt)"),
    opt("--log-csv", default=None, help="per-step log output"),
    opt("--stop-after", type=_positive_int, default=None, help=argparse.SUPPRESS),
    opt("--out", required=True, help="model state_dict output (.pt)"),
    RUN,
)
def cmd_train(a):
    from .defenses import DEFENSES
    from .train import Recipe, RunOptions, cleanup_checkpoint, resolve_device, save_model, train, write_log

    recipe = Recipe(**_fields(Recipe, a, hparams=DEFENSES.from_cli(a.defense, a)))
    options = RunOptions(
        **_fields(RunOptions, a, compile_mode=a.compile, ckpt_path=a.ckpt, snapshots=tuple(a.snapshots))
    )
    model, summary = train(data=_load_data(a, resolve_device(a.device)), recipe=recipe, options=options)
    if summary["steps_done"] < a.steps:
        print(f"[{a.name}] stopped after step {summary['steps_done']}; checkpoint kept at {a.ckpt}", file=sys.stderr)
        return 3
    log_rows = summary.pop("log_rows")
    if a.log_csv:
        write_log(a.log_csv, log_rows)
    save_model(model, a.out)
    values = {**summary.pop("values"), "name": a.name}
    _sidecars([a.out], a, values=values, inputs=[a.data], extra={"train": summary})
    if a.ckpt:
        cleanup_checkpoint(a.ckpt)


# ---- evaluation


@command(
    "evaluate",
    "accuracy of a model under one attack",
    EVAL,
    ATTACK,
    opt(
        "--adv",
        default=None,
        help="the examples `craft` already made with this attack on this model (a transfer substitute's): "
        "the accuracy on them, instead of attacking again",
    ),
    opt("--out", required=True, help="JSON row"),
)
def cmd_evaluate(a):
    from .evaluate import evaluate
    from .provenance import write_json_atomic

    model, x, y = _load_eval(a)
    params = _attack_params(a)
    x_adv = _crafted(a, params, y) if a.adv else None
    row = evaluate(model, x, y, a.attack, params, a.batch_size, x_adv=x_adv)
    row.update(model=a.name, attack_name=a.attack_name or a.attack, seed=a.seed, dataset=a.dataset)
    row["seconds"] = round(time.time() - a.started, 2)
    write_json_atomic(a.out, row)
    _sidecars([a.out], a, inputs=[a.model, a.data] + ([a.adv] if a.adv else []))
    print(
        f"{a.name} under {row['attack_name']} {params}: accuracy {row['accuracy']:.4f} (n={row['n']})", file=sys.stderr
    )


def _crafted(a, params: dict, y):
    """x_adv of a file written by ``craft`` for this very evaluation: the same model, attack,
    parameters and test images (labels), else a one-line error naming what differs."""
    from .serialization import safe_load

    blob = safe_load(a.adv, map_location=y.device)
    want = {"substitute": a.name, "attack": a.attack_name or a.attack, "params": params}
    have = {k: json.loads(blob[k]) if k == "params" else blob.get(k) for k in want}
    for k in want:
        if have[k] != want[k]:
            raise ConfigError(f"--adv {a.adv}: crafted with {k} {have[k]!r}, this evaluation needs {want[k]!r}")
    if blob["y"].shape != y.shape or not bool((blob["y"] == y).all()):
        n = blob["y"].shape[0]
        raise ConfigError(f"--adv {a.adv}: its {n} labels are not those of the first {y.shape[0]} test images")
    return blob["x_adv"].to(y.device)


@command(
    "craft",
    "craft adversarial test examples on a substitute (transfer)",
    EVAL,
    ATTACK,
    opt("--out", required=True, help="tensor file of x_adv and y"),
)
def cmd_craft(a):
    from .evaluate import craft

    model, x, y = _load_eval(a)
    params = _attack_params(a)
    acc = craft(model, x, y, a.attack, params, a.batch_size, a.out, substitute=a.name, attack_name=a.attack_name)
    _sidecars([a.out], a, inputs=[a.model, a.data], extra={"whitebox_accuracy": acc})
    print(
        f"crafted {x.shape[0]} examples on {a.name} ({a.attack} {params}); white-box accuracy {acc:.4f}",
        file=sys.stderr,
    )


@command(
    "evaluate-transfer",
    "accuracy of a target model on crafted examples",
    opt("--name", required=True, help="target model name"),
    opt("--model", required=True),
    NET,
    opt("--adv", nargs="+", required=True, help="files written by craft (one per substitute)"),
    opt("--batch-size", type=_positive_int, default=1000),
    opt("--out", required=True),
    RUN,
)
def cmd_evaluate_transfer(a):
    from .evaluate import evaluate_transfer
    from .provenance import write_json_atomic
    from .train import resolve_device

    dev = resolve_device(a.device)
    out = evaluate_transfer(
        a.model, a.adv, a.network, a.normalization, dev, a.batch_size, name=a.name, channels_last=a.channels_last
    )
    for r in out:
        r.update(seed=a.seed, dataset=a.dataset)
        print(f"{a.name} on examples from {r['substitute']}: accuracy {r['accuracy']:.4f}", file=sys.stderr)
    write_json_atomic(a.out, out)
    _sidecars([a.out], a, inputs=[a.model, *a.adv])


@command(
    "eps-sweep",
    "accuracy of a model under one attack at each eps of a list",
    EVAL,
    opt("--sweep-name", required=True, help="the sweep's name in the config"),
    opt("--attack", required=True, choices=names("attacks", "ATTACKS", lambda d: "eps" in d.names())),
    opt("--eps-list", type=_unit, nargs="+", required=True, help="eps values in [0, 1]; 0 is clean"),
    opt("--k", type=_positive_int, default=None, help="steps of ifgsm/pgd"),
    opt("--restarts", type=_positive_int, default=None, help="pgd restarts"),
    opt("--attack-seed", type=int, default=None, help="seed of pgd random starts"),
    opt("--out", required=True, help="JSON rows, one per eps"),
)
def cmd_eps_sweep(a):
    from .evaluate import eps_sweep
    from .provenance import write_json_atomic

    model, x, y = _load_eval(a)
    fixed = {"k": a.k, "restarts": a.restarts, "seed": a.attack_seed}
    out = eps_sweep(model, x, y, a.attack, a.eps_list, {k: v for k, v in fixed.items() if v is not None}, a.batch_size)
    for row in out:
        row.update(model=a.name, sweep=a.sweep_name, seed=a.seed, dataset=a.dataset)
        print(
            f"{a.name} {a.sweep_name} eps {row['eps']:g}: accuracy {row['accuracy']:.4f} (n={row['n']})",
            file=sys.stderr,
        )
    write_json_atomic(a.out, out)
    _sidecars([a.out], a, inputs=[a.model, a.data])


# ---- loss surfaces


@command(
    "surface",
    "loss surface of section 3.4 for one model and attack",
    opt("--name", required=True),
    opt("--model", required=True),
    NET,
    opt("--data", required=True),
    opt("--attack", required=True, choices=names("attacks", "ATTACKS", lambda d: d.extra.get("direction"))),
    opt("--eps", type=_eps, required=True),
    opt("--k", type=_positive_int, default=None),
    opt("--n", type=_positive_int, default=schema("figures.*.n"), help="minibatch size (paper: 128)"),
    opt("--t-max", type=float, default=schema("figures.*.t_max")),
    opt("--points", type=_positive_int, default=schema("figures.*.points")),
    opt("--no-clip", action="store_true", help="do not clip perturbed images to [0,1]"),
    opt("--out", required=True, help=".npz with t and surface"),
    RUN,
)
def cmd_surface(a):
    from .surface import surface_to_file

    model, x, y = _load_eval(a)
    surf = surface_to_file(model, x, y, a.attack, a.eps, a.k, a.t_max, a.points, a.seed, not a.no_clip, a.out)
    _sidecars([a.out], a, inputs=[a.model, a.data])
    print(
        f"surface of {a.name} under {a.attack}: min {float(surf.min()):.2f} max {float(surf.max()):.2f}",
        file=sys.stderr,
    )


@command(
    "plot-surface",
    "draw loss surfaces side by side (3-D, matplotlib)",
    opt("--inputs", nargs="+", required=True),
    opt("--labels", nargs="+", required=True),
    opt("--title", default=""),
    opt("--out", nargs="+", required=True, help="figure files (.pdf, .png)"),
)
def cmd_plot_surface(a):
    from .plots import plot_surfaces

    if len(a.inputs) != len(a.labels):
        raise ConfigError(f"{len(a.inputs)} inputs but {len(a.labels)} labels; give one label per input")
    plot_surfaces(a.inputs, a.labels, a.title, a.out)
    _sidecars(a.out, a, inputs=a.inputs)


# ---- tables


@command(
    "table",
    "render a table (CSV, LaTeX, HTML) beside the paper's values",
    spec("the table's spec"),
    rows(),
    TABLE_OUTS,
)
def cmd_table(a):
    from .tables import load_rows, render, tidy_table

    tidy = tidy_table(load_rows(a.rows), a.spec)
    render(tidy, a.spec, a.out_csv, a.out_tex, a.out_html)
    extra = {"config": a.spec.get("config", {}), "config_hash_of_study": a.spec.get("config_hash")}
    _sidecars([a.out_csv, a.out_tex, a.out_html], a, inputs=a.rows, extra=extra)
    worst = tidy.dropna(subset=["diff"])
    msg = f", mean |diff| to the paper {worst['diff'].abs().mean():.4f}" if len(worst) else ""
    print(f"table {a.spec['name']}: {len(tidy)} cells{msg}", file=sys.stderr)


@command(
    "cost-table",
    "training cost per step and ratios, from model sidecars",
    models("model files (their .meta.json are read)"),
    spec("note, reference model names", default="{}"),
    TABLE_OUTS,
)
def cmd_cost_table(a):
    from .costs import cost_table

    cost_table(a.models, a.spec, a.out_csv, a.out_tex, a.out_html)
    _sidecars([a.out_csv, a.out_tex, a.out_html], a, inputs=a.models)


# ---- scientific checks (e2sad/science)


@command(
    "ablation-table",
    "second-step ablation of e2SAD beside the paper's e2SAD column",
    spec("variants {variant: model}, attacks, paper_model, ..."),
    rows("JSON result rows of the variants"),
    models("the variants' model files (sidecars are read)"),
    TABLE_OUTS,
)
def cmd_ablation_table(a):
    from .science import ablation_table, load_json_rows, read_g2, render_ablation

    tidy, verdict = ablation_table(load_json_rows(a.rows), read_g2(a.models), a.spec)
    render_ablation(tidy, verdict, a.spec, a.out_csv, a.out_tex, a.out_html)
    _sidecars([a.out_csv, a.out_tex, a.out_html], a, inputs=a.rows + a.models, extra={"verdict": verdict})
    print(f"ablation: {verdict['text']}", file=sys.stderr)


@command(
    "robustness-table",
    "paper's attack beside the strongest attack found, per model",
    spec("models, reference, attacks, flag_drop, ..."),
    rows(),
    TABLE_OUTS,
)
def cmd_robustness_table(a):
    from .science import load_json_rows, render_robustness, robustness_table

    df = robustness_table(load_json_rows(a.rows), a.spec)
    render_robustness(df, a.spec, a.out_csv, a.out_tex, a.out_html)
    _sidecars([a.out_csv, a.out_tex, a.out_html], a, inputs=a.rows)
    for r in df.itertuples():
        flag = f"  FLAG {r.flag}" if r.flag else ""
        msg = f"{r.model}: {r.reference} {r.reference_acc:.4f}, strongest {r.strongest} {r.strongest_acc:.4f}{flag}"
        print(msg, file=sys.stderr)


@command(
    "frontier-table",
    "cost-robustness frontier: table, figure and checked statements",
    spec("cells, attacks, model_info, robust, budget, ..."),
    rows("JSON result rows (evaluate)"),
    models("trained model files (their sidecars give step times)"),
    opt("--snapshots", default=None, help="snapshots.csv (robustness along training), for its statement"),
    TABLE_OUTS,
    FIG,
)
def cmd_frontier_table(a):
    import pandas as pd

    from .costs import cost_rows
    from .science import frontier_statements, frontier_table, load_json_rows, plot_frontier, render_frontier

    df = frontier_table(load_json_rows(a.rows), cost_rows(a.models), a.spec)
    snaps = pd.read_csv(a.snapshots) if a.snapshots else None
    st = frontier_statements(df, a.spec, snaps)
    render_frontier(df, st, a.spec, a.out_csv, a.out_tex, a.out_html)
    plot_frontier(df, a.spec, a.out_fig)
    inputs = a.rows + a.models + ([a.snapshots] if a.snapshots else [])
    _sidecars([a.out_csv, a.out_tex, a.out_html, *a.out_fig], a, inputs=inputs)
    for r in st.itertuples():
        print(f"{r.verdict}: {r.statement}: {r.numbers}", file=sys.stderr)


@command(
    "frontier-snapshots",
    "robustness along training and catastrophic overfitting",
    spec("models, attacks, single_step, iterative, overfit_drop, ..."),
    rows("JSON rows of the snapshots (evaluate)"),
    opt("--out-csv", required=True),
    opt("--out-html", required=True),
    FIG,
)
def cmd_frontier_snapshots(a):
    from .science import (
        catastrophic_overfitting,
        load_json_rows,
        plot_snapshots,
        render_snapshots,
        snapshot_frame,
        snapshot_seeds,
    )

    rows = load_json_rows(a.rows)
    frame = snapshot_frame(rows)
    seeds = snapshot_seeds(rows)
    flags = catastrophic_overfitting(
        seeds, a.spec["single_step"], a.spec["iterative"], a.spec["overfit_drop"], a.spec.get("overfit_gap")
    )
    render_snapshots(frame, flags, a.spec, a.out_csv, a.out_html)
    plot_snapshots(frame, flags, a.spec, a.out_fig)
    _sidecars([a.out_csv, a.out_html, *a.out_fig], a, inputs=a.rows)
    for r in flags.itertuples():
        where = f"steps {r.step_before} -> {r.step}" if r.step_before != r.step else f"step {r.step} (gap)"
        print(f"FLAG catastrophic overfitting: {r.model} seed {r.seed} {where}", file=sys.stderr)


@command(
    "sanity-report",
    "sanity checks of the evaluation (PASS/FAIL/UNDECIDED/NOT RUN), and the eps-sweep figure",
    spec("models, attacks, transfer_attacks, ..."),
    opt("--sweeps", nargs="+", required=True, help="rows written by eps-sweep"),
    opt("--whitebox", nargs="*", default=[], help="rows written by evaluate"),
    opt("--transfer", nargs="*", default=[], help="rows written by evaluate-transfer"),
    opt("--out-csv", required=True),
    opt("--out-html", required=True),
    opt("--out-fig", nargs="+", required=True, help="eps-sweep figure files (.pdf, .png)"),
)
def cmd_sanity_report(a):
    from .science import sanity_report
    from .science.verdict import Verdict, tally

    checks = sanity_report(a.sweeps, a.whitebox, a.transfer, a.spec, a.out_csv, a.out_html, a.out_fig)
    _sidecars([a.out_csv, a.out_html, *a.out_fig], a, inputs=a.sweeps + a.whitebox + a.transfer)
    print(f"sanity: {tally(checks['verdict'])}", file=sys.stderr)
    for r in checks[checks["verdict"] != Verdict.PASS].itertuples():
        print(f"  {r.verdict} {r.model}: {r.check}: {r.evidence}", file=sys.stderr)


@command(
    "statements",
    "the paper's claims on Table 3.1 and training cost, PASS/FAIL",
    opt("--table", required=True, help="Table 3.1 CSV (e2sad table)"),
    opt("--cost", required=True, help="training-cost CSV (e2sad cost-table)"),
    spec("attacks {name: {kind, eps}}, note", default="{}"),
    opt("--out-html", required=True),
    opt("--out-md", required=True),
    opt("--out-csv", default=None),
)
def cmd_statements(a):
    from .science import check_statements, render_statements

    df = check_statements(a.table, a.cost, a.spec.get("attacks"))
    render_statements(df, a.spec, a.out_html, a.out_md, a.out_csv)
    _sidecars([a.out_html, a.out_md, a.out_csv], a, inputs=[a.table, a.cost])
    for r in df.itertuples():
        print(f"{r.verdict}: {r.statement} -- {r.evidence}", file=sys.stderr)


# ---- entry point


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line naming it, not a usage dump."""

    def error(self, message):
        self.exit(2, f"e2sad: error: {self.prog}: {message}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line; with ``only``, just that subcommand gets its options.

    Adding a subcommand's options may import its declarations (and so torch);
    building only the one that runs keeps jobs that do not need torch (tables,
    plots) from paying its ~3 s import.
    """
    from .declare import load_plugins

    load_plugins()
    ap = _Parser(prog="python -m e2sad", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="SUBCOMMAND")
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(name, help=cmd.help)
        if only is None or name == only:
            for option in cmd.options:
                option.add_to(p) if isinstance(option, Opt) else option(p)
    return ap


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
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    # 32 MiB: glibc's maximum mmap threshold on 64-bit; a larger request still gets its own mmap
    ok = mallopt(m_mmap_threshold, 32 << 20) and mallopt(m_trim_threshold, 1 << 30)
    return bool(ok)


def main(argv=None) -> int:
    try:
        keep_freed_memory()
        argv = sys.argv[1:] if argv is None else list(argv)
        first = next((t for t in argv if not t.startswith("-")), None)
        ap = build_parser(first if first in COMMANDS else None)
        args = ap.parse_args(argv)
        if getattr(args, "threads", None):
            import torch

            torch.set_num_threads(args.threads)
        args.started = time.time()
        return COMMANDS[args.cmd].run(args) or 0
    except E2sadError as exc:
        print(f"e2sad: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("e2sad: interrupted", file=sys.stderr)
        return 130
