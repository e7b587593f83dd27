"""The option mini-language of the subcommands: an option is an :class:`Opt` (one
``add_argument``), its value may be :class:`Lazy` (computed when the subcommand's parser is built:
a default of the config's schema, :func:`schema`; the schema's allowed values, :func:`allowed`; the
names of a registry, :func:`names`; a registry's declared hyperparameters, :func:`declared`), and a
subcommand is one function registered with its options by :func:`command` in :data:`COMMANDS`.
The option types (a bad value is one line naming it), the option groups shared by several
subcommands and the provenance sidecar every subcommand writes (:func:`write_sidecars`) are here too.

Imports inside functions are only those that keep torch and the other heavy libraries (jsonschema,
through the config schema) out of the start-up of a job that does not need them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass

from ..provenance import write_sidecar

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
        value = _schema_module().schema_default(key)
        return tuple(value) if isinstance(value, list) else value

    return Lazy(read)


def allowed(key: str) -> Lazy:
    """The config schema's allowed values of ``key`` (its ``enum``, ``compute.precision``), as an
    option's choices: the schema is their one home."""
    return Lazy(lambda: list(_schema_module().schema_enum(key)))


def _schema_module():
    """:mod:`e2sad.config.schema`, imported when a parser asks it (it imports jsonschema, ~0.1 s)."""
    from ..config import schema

    return schema


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


def positive_int(s: str) -> int:
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{s} is not allowed, must be an integer >= 1")
    return v


def fraction(s: str) -> float:
    """A float, also written as a fraction like 24/255."""
    try:
        if "/" in s:
            a, b = s.split("/")
            return float(a) / float(b)
        return float(s)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None


def eps_value(s: str) -> float:
    v = fraction(s)
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"eps {s} is not allowed, must be in (0, 1]")
    return v


def unit_value(s: str) -> float:
    v = fraction(s)
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"{s} is not allowed, must be in [0, 1]")
    return v


def warmup_value(s: str) -> float:
    """An eps warm-up: a fraction of the steps in [0, 1) (``training.<dataset>.eps_warmup``)."""
    v = fraction(s)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"eps warm-up {s} is not allowed, must be in [0, 1)")
    return v


def label_smoothing(s: str):
    if s.lower() in ("none", "hard", "1", "1.0"):
        return None
    v = fraction(s)
    if not 0.1 < v <= 1:
        raise argparse.ArgumentTypeError(f"label smoothing {s} is not allowed, must be in (0.1, 1] or none")
    return v


def json_object(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc})") from None


# ---- option groups shared by several subcommands

RUN = (
    opt("--device", default=schema("compute.device"), help="auto, cpu, cuda or cuda:N (default %(default)s)"),
    opt("--threads", type=positive_int, default=None, help="torch intra-op threads"),
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
    opt("--n", type=positive_int, default=None, help="first n test images (default all)"),
    opt(
        "--sample-seed",
        type=int,
        default=None,
        help="a random sample of --n test images drawn with this seed instead of the first n (frontier.sample_seed)",
    ),
    opt("--batch-size", type=positive_int, default=schema("evaluation.batch_size")),
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
    return opt("--spec", type=json_object, help=f"JSON: {help}", **(kw or {"required": True}))


def rows(help: str = "JSON result rows") -> Opt:
    return opt("--rows", nargs="+", required=True, help=help)


def models(help: str) -> Opt:
    return opt("--models", nargs="+", required=True, help=help)


# ---- what every subcommand shares


def write_sidecars(outputs, a, *, inputs=(), values=None, seed=None, extra=None) -> None:
    """The provenance sidecar of every output.  ``values``: given, else the spec of a table job
    (its other options are its inputs and outputs), else the parsed options; ``seed``: given, else
    the ``--seed`` of a job that has one."""
    if values is None:
        spec = getattr(a, "spec", None)
        hidden = ("func", "stop_after", "started")
        values = {"spec": spec} if spec is not None else {k: v for k, v in vars(a).items() if k not in hidden}
    seed = getattr(a, "seed", None) if seed is None else seed
    for o in outputs:
        if o:
            write_sidecar(o, values=values, seed=seed, started=a.started, inputs=list(inputs) or None, extra=extra)
