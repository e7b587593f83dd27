"""Where a Snakemake run's wall time went: every job's start and end read from the run's own
console log (its ``[timestamp]`` lines before ``rule ...:`` and ``Finished jobid: ...``), summed per
rule (and per attack for the evaluations), against the run's span and its cores. A record of one
run: with one thread a job, a job's wall seconds are its core-seconds, start-up included.

    /usr/bin/time -v snakemake --cores 2 frontier --configfile config/verdict.yaml > run.log 2>&1
    python bench/run_jobs.py run.log --cores 2
"""

from __future__ import annotations

import argparse
import re
from datetime import datetime
from pathlib import Path

import pandas as pd

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
RULE = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")
FINISHED = re.compile(r"^Finished jobid: (\d+)")


def read_jobs(text: str) -> pd.DataFrame:
    """One row per finished job: rule, its wildcards (a dict), start, end and seconds."""
    stamp, current, started, rows = None, None, {}, []
    for line in text.splitlines():
        if m := STAMP.match(line):
            stamp = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
        elif m := RULE.match(line):
            current = {"rule": m.group(1), "start": stamp, "wildcards": {}}
        elif current is not None and (m := JOBID.match(line)):
            started[m.group(1)] = current
        elif current is not None and (m := WILDCARDS.match(line)):
            current["wildcards"] = dict(kv.split("=", 1) for kv in m.group(1).split(", "))
        elif (m := FINISHED.match(line)) and m.group(1) in started:
            job = started.pop(m.group(1))
            rows.append({**job, "end": stamp, "seconds": (stamp - job["start"]).total_seconds()})
    if not rows:
        raise SystemExit("no finished job in this log (is it Snakemake's console output?)")
    return pd.DataFrame(rows)


def kind(job: pd.Series) -> str:
    """The rule, and for an evaluation its attack (the name before its parameters)."""
    attack = job["wildcards"].get("attack")
    return f"{job['rule']} {attack.split('_')[0]}" if attack else job["rule"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", type=Path, help="the run's console output (stdout and stderr)")
    ap.add_argument("--cores", type=int, default=2, help="the run's --cores")
    a = ap.parse_args(argv)
    jobs = read_jobs(a.log.read_text(errors="replace"))
    jobs["kind"] = jobs.apply(kind, axis=1)
    per = jobs.groupby("kind")["seconds"].agg(["count", "sum", "median", "max"])
    per["core-min"] = per["sum"] / 60
    per["share %"] = 100 * per["sum"] / per["sum"].sum()
    print(per.sort_values("sum", ascending=False).round(1).to_string())
    span = (jobs["end"].max() - jobs["start"].min()).total_seconds()
    busy = jobs["seconds"].sum()
    print(
        f"\n{len(jobs)} jobs, {busy / 60:.1f} core-minutes inside them; first start to last end "
        f"{span / 3600:.2f} h on {a.cores} cores: {100 * busy / (a.cores * span):.0f} % of the cores busy"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
