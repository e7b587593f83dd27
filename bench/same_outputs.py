"""Two results folders of the same study, file by file: does a refactor leave every output as it was?

Compares every output of A with B's file of the same path (provenance sidecars and logs left out:
they record times, hosts and the code version by design) and prints one line per file that
differs, then a count per kind.  What is compared:

- model files, prepared data, crafted examples, loss surfaces, snapshots: their bytes;
- evaluation rows (JSON): every key but ``seconds`` (a wall time); training logs: every column but
  the step times;
- tables: CSV and LaTeX bytes; HTML with pandas' random Styler ids (``T_xxxxx``) made equal;
  the training-cost table is measured in seconds (its rows in order of them), so only its other
  columns are compared, as a set of rows;
- figures: PNG bytes; PDF bytes without their creation date.

    python bench/same_outputs.py ../baseline/results/reduced results/reduced
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from collections import Counter
from pathlib import Path

#: columns of the training-cost table that are measured times (they differ from run to run)
TIME_COLUMNS = re.compile(r"(step_s|_s$|seconds|wall|ratio|x_natural|x_fgsm|images_per_s)")


def _html(b: bytes) -> bytes:
    return re.sub(rb"T_[0-9a-f]{5}(_row\d+_col\d+|_level\d+_col\d+|_row\d+|_col\d+)?", b"T_ID", b)


def _pdf(b: bytes) -> bytes:
    return re.sub(rb"/CreationDate \([^)]*\)|/ModDate \([^)]*\)", b"", b)


def _json(b: bytes):
    """A result file's rows without their wall times (one row, or a list of rows)."""
    d = json.loads(b)
    for row in d if isinstance(d, list) else [d]:
        if isinstance(row, dict):
            row.pop("seconds", None)
    return d


def _cost_csv(b: bytes) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(b.decode())))
    return [{k: v for k, v in r.items() if not TIME_COLUMNS.search(k)} for r in rows]


def same(path: Path, a: bytes, b: bytes) -> bool:
    name = path.name
    if name == "train_log.csv":  # the loss terms of every step; its step times are measured
        return _cost_csv(a) == _cost_csv(b)
    if "training_cost" in name:  # measured seconds (rows in order of them): its CSV's other columns, as a set
        key = lambda r: sorted(r.items())  # noqa: E731
        return sorted(map(key, _cost_csv(a))) == sorted(map(key, _cost_csv(b))) if name.endswith(".csv") else True
    if name.endswith(".json"):
        return _json(a) == _json(b)
    if name.endswith(".html"):
        return _html(a) == _html(b)
    if name.endswith(".pdf"):
        return _pdf(a) == _pdf(b)
    return a == b


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", type=Path, help="results folder A (before)")
    ap.add_argument("b", type=Path, help="results folder B (after)")
    args = ap.parse_args(argv)
    files = sorted(
        p.relative_to(args.a)
        for p in args.a.rglob("*")
        if p.is_file() and not p.name.endswith(".meta.json") and "logs" not in p.parts and "checkpoints" not in p.parts
    )
    kinds, differ, missing = Counter(), [], []
    for rel in files:
        kind = rel.parts[0]
        kinds[kind] += 1
        other = args.b / rel
        if not other.is_file():
            missing.append(str(rel))
        elif not same(rel, (args.a / rel).read_bytes(), other.read_bytes()):
            differ.append(str(rel))
    for f in missing:
        print(f"missing in B: {f}")
    for f in differ:
        print(f"differs: {f}")
    counts = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    print(
        f"{len(files)} files compared ({counts}): {len(files) - len(differ) - len(missing)} the same, "
        f"{len(differ)} differ, {len(missing)} missing in B"
    )
    return 1 if differ or missing else 0


if __name__ == "__main__":
    sys.exit(main())
