"""Declarations: each defense and each attack is declared once, beside its function.

A declaration names the function, the paper (equation) it implements and its
hyperparameters, each a :class:`Param` with type, allowed range or values,
default and the paper's words.  Everything else is derived from it:

- the config checks (:func:`e2sad.config.check_relations`: missing, unknown and
  out-of-range keys of a model or an attack, one line each),
- the command-line options of ``python -m e2sad train / evaluate / craft``
  (:meth:`Registry.add_cli_options`, :meth:`Registry.from_cli`),
- the workflow's command lines (:meth:`Registry.cli_args`, used by
  :mod:`e2sad.plan`).

So adding a defense is one function and its ``@DEFENSES.declare(...)`` in one
file.  Declarations from outside the package (a test, a user's own module) are
loaded from the modules named in the ``E2SAD_PLUGINS`` environment variable
(comma-separated importable module names) by :func:`load_plugins`; the CLI and
the workflow call it before they read the registries.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

REQUIRED = object()
"""Default of a :class:`Param` that must be given."""


@dataclass(frozen=True)
class Param:
    """One hyperparameter: ``name`` with its type, range or choices, default and the paper's words.

    ``lo``/``hi`` bound a number (``open_lo``/``open_hi`` make the bound
    exclusive); ``choices`` lists the allowed strings; ``flag`` is the
    command-line option when it differs from ``--name`` (``--attack-seed``).

    ``budget``: the value is in pixel units and scales with the perturbation budget (an eps, an
    attack's step size), so that an eps warm-up (``training.<dataset>.eps_warmup``,
    :func:`e2sad.train.warmup_factor`) ramps it with eps; a loss weight, a count or a choice is not.
    """

    name: str
    type: type
    doc: str
    default: Any = REQUIRED
    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False
    open_hi: bool = False
    choices: tuple[str, ...] = ()
    flag: str | None = None
    budget: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def option(self) -> str:
        return "--" + (self.flag or self.name.replace("_", "-"))

    @property
    def dest(self) -> str:
        return self.option[2:].replace("-", "_")

    def allowed(self) -> str:
        """What is allowed, in words: ``one of a, b``, ``in (0, 1]``, ``an integer in [1, inf)``."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        lb = "(" if self.open_lo or self.lo is None else "["
        rb = ")" if self.open_hi or self.hi is None else "]"
        lo = "-inf" if self.lo is None else f"{self.lo:g}"
        hi = "inf" if self.hi is None else f"{self.hi:g}"
        return ("an integer in " if self.type is int else "in ") + f"{lb}{lo}, {hi}{rb}"

    def check(self, value: Any, where: str, text: bool = False) -> Any:
        """``value`` converted to the declared type, or one :class:`ConfigError` line naming ``where``.

        ``text``: the value comes from a command line (a string such as ``0.3`` or ``24/255``);
        otherwise (a config file) a number must be a number."""
        bad = f"{where}: {value!r} is not allowed; must be {self.allowed()}"
        if self.choices:
            if not isinstance(value, str) or value not in self.choices:
                raise ConfigError(bad)
            return value
        if not text and (isinstance(value, (bool, str)) or not isinstance(value, (int, float))):
            expected = "integer" if self.type is int else "number"
            hint = ""
            if isinstance(value, str):
                try:
                    _number(value)
                    hint = " (snakemake --config passes nested values as strings: set it in an overlay file)"
                except (ValueError, ZeroDivisionError):
                    pass
            raise ConfigError(f"{where}: {value!r} has type {type(value).__name__}, expected {expected}{hint}")
        try:
            v = _number(value) if isinstance(value, str) else value
            if self.type is int:
                if float(v) != int(v):
                    raise ValueError
                v = int(v)
            else:
                v = float(v)
        except (ValueError, ZeroDivisionError, OverflowError):
            raise ConfigError(bad) from None
        if self.lo is not None and (v < self.lo or (self.open_lo and v == self.lo)):
            raise ConfigError(bad)
        if self.hi is not None and (v > self.hi or (self.open_hi and v == self.hi)):
            raise ConfigError(bad)
        return v


def _number(s: str) -> float:
    """A number written as ``0.3``, ``1e-3`` or a fraction such as ``24/255``."""
    if "/" in s:
        a, b = s.split("/")
        return float(a) / float(b)
    return float(s)


@dataclass(frozen=True)
class Declaration:
    """One defense or attack: its function, the paper it follows and its hyperparameters."""

    name: str
    fn: Callable
    params: tuple[Param, ...]
    paper: str
    extra: dict = field(default_factory=dict)

    def param(self, name: str) -> Param:
        return {p.name: p for p in self.params}[name]

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def budget_names(self) -> tuple[str, ...]:
        """The hyperparameters declared ``budget=True`` (pixel units, ramped by an eps warm-up)."""
        return tuple(p.name for p in self.params if p.budget)

    def check(self, given: dict, where: str, noun: str = "hyperparameter", text: bool = False) -> dict:
        """``given`` checked against the declaration: every required key present, no unknown
        key, every value allowed.  Returns the values converted, in declaration order."""
        own = {p.name: p for p in self.params}
        for p in self.params:
            if p.required and p.name not in given:
                optional = [q.name for q in self.params if not q.required]
                raise ConfigError(
                    f"{where}.{p.name}: missing; {self.kind} '{self.name}' needs "
                    f"{', '.join(q.name for q in self.params if q.required)}"
                    + (f" (optional: {', '.join(optional)})" if optional else "")
                )
        extra = sorted(set(given) - set(own))
        if extra:
            raise ConfigError(
                f"{where}.{extra[0]}: {given[extra[0]]!r} is not allowed (unknown key), {self.kind} "
                f"'{self.name}' has no {noun} {extra[0]}; its {noun}s: {', '.join(own) or 'none'}"
            )
        return {p.name: p.check(given[p.name], f"{where}.{p.name}", text) for p in self.params if p.name in given}

    @property
    def kind(self) -> str:
        return self.extra.get("kind", "entry")


class Registry(dict):
    """name -> :class:`Declaration`, filled by the ``@REGISTRY.declare(...)`` decorator."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def declare(self, name: str, *, params: tuple[Param, ...] = (), paper: str, **extra):
        """Decorator: register the function under ``name`` with its hyperparameters and paper."""

        def deco(fn):
            if name in self:
                raise ConfigError(f"{self.kind} '{name}' is declared twice")
            self[name] = Declaration(name, fn, tuple(params), paper, {"kind": self.kind, **extra})
            return fn

        return deco

    def get_decl(self, name: str, where: str | None = None) -> Declaration:
        load_plugins()
        if name not in self:
            prefix = f"{where}: " if where else ""
            raise ConfigError(f"{prefix}{self.kind} {name!r} is not allowed; allowed: {', '.join(self)}")
        return self[name]

    def all_params(self) -> list[Param]:
        """Every hyperparameter of every declaration, once per name (the CLI's options)."""
        load_plugins()
        seen: dict[str, Param] = {}
        for d in self.values():
            for p in d.params:
                seen.setdefault(p.name, p)
        return list(seen.values())

    def add_cli_options(self, parser) -> None:
        """One ``--option`` per hyperparameter name; values are checked by the declaration."""
        for p in self.all_params():
            parser.add_argument(p.option, dest=p.dest, default=None, metavar=p.name.upper(), help=p.doc)

    def from_cli(self, name: str, args) -> dict:
        """The hyperparameters of ``name`` given on the command line, checked (one line on error)."""
        decl = self.get_decl(name)
        given = {p.name: getattr(args, p.dest) for p in self.all_params() if getattr(args, p.dest, None) is not None}
        return decl.check(given, f"{self.kind} {name}", noun="option", text=True)

    def cli_args(self, name: str, values: dict) -> list[str]:
        """The hyperparameters of ``name`` in ``values`` as explicit options (the workflow's command
        lines); a key left out takes the declared default."""
        decl = self.get_decl(name)
        return [f"{p.option} {values[p.name]}" for p in decl.params if p.name in values]

    def resolved(self, name: str, values: dict) -> dict:
        """Every hyperparameter of ``name``: the value in ``values``, else the declared default (a
        rule's ``params:``, so that changing a declared default re-runs the jobs that use it)."""
        decl = self.get_decl(name)
        return {p.name: values.get(p.name, None if p.required else p.default) for p in decl.params}


_LOADED: set[str] = set()


def load_plugins() -> None:
    """Import the modules named in ``E2SAD_PLUGINS`` (their declarations register themselves)."""
    for mod in filter(None, (m.strip() for m in os.environ.get("E2SAD_PLUGINS", "").split(","))):
        if mod in _LOADED:
            continue
        _LOADED.add(mod)
        try:
            importlib.import_module(mod)
        except ImportError as exc:
            raise ConfigError(f"E2SAD_PLUGINS: module {mod!r} cannot be imported ({exc})") from None
