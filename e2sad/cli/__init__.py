"""Command line: ``python -m e2sad <subcommand> ...``; the workflow's rules call this.

Every input, output and hyperparameter is an explicit option; a defense's or an
attack's options come from its declaration (:mod:`e2sad.declare`), a default
that the config has too from the config's schema.  Each subcommand is one
function registered with its options by :func:`~e2sad.cli.options.command`
(:mod:`.options`: the option mini-language and the option groups shared by
several subcommands; :mod:`.commands`: data, training, evaluation, surfaces and
tables; :mod:`.science_commands`: the science products); it parses, calls one
library function, and writes its outputs with a ``.meta.json`` provenance
sidecar.  Bad input gives one line, ``e2sad: error: ...``, naming the file or
value, and exit status 2.

torch is imported inside :func:`main` only for ``--threads``, so that a job that
does not need it (``--help``, a table) never loads it.
"""

from __future__ import annotations

import argparse
import sys
import time

from ..declare import load_plugins
from ..errors import E2sadError
from ..runtime import keep_freed_memory
from . import commands, released_commands, science_commands  # noqa: F401  (their subcommands register themselves)
from .options import COMMANDS, Opt

__all__ = ["COMMANDS", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line naming it, not a usage dump."""

    def error(self, message):
        self.exit(2, f"e2sad: error: {self.prog}: {message}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line; with ``only``, just that subcommand gets its options (``""``: none, the
    list of subcommands that ``python -m e2sad --help`` prints).

    Adding a subcommand's options may import its declarations (and so torch);
    building only the one that runs keeps jobs that do not need torch (tables,
    plots) from paying its ~3 s import.
    """
    load_plugins()
    ap = _Parser(prog="python -m e2sad", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="SUBCOMMAND")
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(name, help=cmd.help)
        if only is None or name == only:
            for option in cmd.options:
                option.add_to(p) if isinstance(option, Opt) else option(p)
    return ap


def main(argv=None) -> int:
    try:
        keep_freed_memory()
        argv = sys.argv[1:] if argv is None else list(argv)
        first = next((t for t in argv if not t.startswith("-")), None)
        ap = build_parser(first if first in COMMANDS else "")
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
