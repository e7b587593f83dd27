"""Where AutoAttack's time goes in a frontier run: the seconds of each of its four attacks
(APGD-CE, APGD-T, FAB-T, Square), read from the reference implementation's own progress lines in
the evaluation logs (``robust accuracy after FAB-T: 75.00% (total time 194.1 s)``: cumulative
within one batch), summed per model and seed, and per defense and attack. A record of a run; the
seconds are those of the run (one thread per job), so read them as shares, not as timings.

    python bench/aa_breakdown.py results/verdict/logs/frontier/evaluate --out docs/results/x/aa_seconds.csv
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

LINE = re.compile(r"robust accuracy after ([A-Z-]+): ([\d.]+)% \(total time ([\d.]+) s\)")
INITIAL = re.compile(r"initial accuracy: ([\d.]+)%")


def read_log(path: Path) -> list[dict]:
    """One row per (batch, attack): its own seconds (the difference of the cumulative times) and
    the robust accuracy after it."""
    rows, batch, last = [], -1, 0.0
    for line in path.read_text(errors="replace").splitlines():
        if INITIAL.search(line):
            batch, last = batch + 1, 0.0
        elif m := LINE.search(line):
            total = float(m.group(3))
            rows.append({"batch": batch, "attack": m.group(1), "seconds": total - last, "acc_after": float(m.group(2))})
            last = total
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("logs", type=Path, help="the run's logs/frontier/evaluate folder")
    ap.add_argument("--out", type=Path, help="write the per model-seed-attack seconds here (CSV)")
    a = ap.parse_args(argv)
    rows = []
    for log in sorted(a.logs.glob("*/seed*/autoattack*.log")):
        for r in read_log(log):
            rows.append({"model": log.parent.parent.name, "seed": int(log.parent.name[4:]), **r})
    if not rows:
        raise SystemExit(f"{a.logs}: no AutoAttack log with its progress lines (*/seed*/autoattack*.log)")
    df = pd.DataFrame(rows)
    per = df.groupby(["model", "seed", "attack"], as_index=False)["seconds"].sum()
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        per.to_csv(a.out, index=False)
    wide = per.pivot_table(index="model", columns="attack", values="seconds", aggfunc="sum").fillna(0)
    order = [c for c in ("APGD-CE", "APGD-T", "FAB-T", "SQUARE") if c in wide.columns]
    wide = wide[order]
    wide["total"] = wide.sum(axis=1)
    wide["model-seeds"] = per.groupby("model")["seed"].nunique()
    print(wide.sort_values("total", ascending=False).round(0).to_string())
    tot = wide[order].sum()
    print(
        f"\nall AutoAttack evaluations read ({per[['model', 'seed']].drop_duplicates().shape[0]} model-seeds): "
        f"{tot.sum() / 60:.0f} core-minutes; " + ", ".join(f"{c} {100 * tot[c] / tot.sum():.0f} %" for c in order)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
