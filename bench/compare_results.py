"""Accuracies of two results folders side by side: the effect of one setting (precision,
merge_clean, ...) on the evaluated cells, against the seed-to-seed spread.

For every model and attack evaluated in both folders (``eval/<model>/seed<N>/<attack>.json``),
prints the accuracy in A and in B for the seed they share (``--seed``), B - A, and the std of
A's accuracy over all seeds A has (the noise a change must exceed to mean something).  Also
prints, from the models' provenance sidecars, every training value in which A and B differ,
so the comparison says what changed.

Example (bf16 vs fp32 at reduced scale; A's e2SAD with the same second step is the ablation's):
    python bench/compare_results.py results/reduced results/reduced-bf16 \\
        --alias mnist_e2sad_S=mnist_e2sad_S__entropy
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table  # noqa: E402

ATTACK_ORDER = ["clean", "fgsm_0.3", "fgsm_0.4", "ifgsm_0.3_k10", "ifgsm_0.3_k30"]


def accuracies(root: Path, model: str) -> dict[str, dict[int, float]]:
    """{attack: {seed: accuracy}} of one model."""
    out: dict[str, dict[int, float]] = {}
    for f in sorted((root / "eval" / model).glob("seed*/*.json")):
        if f.name.endswith(".meta.json"):
            continue
        seed = int(f.parent.name[len("seed") :])
        out.setdefault(f.stem, {})[seed] = json.loads(f.read_text())["accuracy"]
    return out


def train_values(root: Path, model: str, seed: int) -> dict:
    meta = root / "models" / model / f"seed{seed}" / "model.pt.meta.json"
    return json.loads(meta.read_text()).get("values", {}) if meta.exists() else {}


def flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", type=Path, help="results folder A (the reference)")
    ap.add_argument("b", type=Path, help="results folder B")
    ap.add_argument("--seed", type=int, default=0, help="the seed compared (default 0)")
    ap.add_argument("--alias", action="append", default=[], help="B_MODEL=A_MODEL (A's name of B's model)")
    a = ap.parse_args(argv)
    alias = dict(x.split("=", 1) for x in a.alias)

    rows, diffs, changed = [], [], {}
    for mdir in sorted(p for p in (a.b / "eval").iterdir() if p.is_dir()):
        mb = mdir.name
        ma = alias.get(mb, mb)
        acc_a, acc_b = accuracies(a.a, ma), accuracies(a.b, mb)
        va, vb = flat(train_values(a.a, ma, a.seed)), flat(train_values(a.b, mb, a.seed))
        for k in sorted(set(va) | set(vb)):
            if va.get(k) != vb.get(k) and k != "name":
                changed.setdefault(k, set()).add(f"{va.get(k)} -> {vb.get(k)}")
        for atk in sorted(set(acc_a) & set(acc_b), key=lambda s: (ATTACK_ORDER + [s]).index(s)):
            if a.seed not in acc_a[atk] or a.seed not in acc_b[atk]:
                continue
            xa, xb = acc_a[atk][a.seed], acc_b[atk][a.seed]
            seeds = list(acc_a[atk].values())
            sd = statistics.stdev(seeds) if len(seeds) > 1 else float("nan")
            diffs.append(xb - xa)
            rows.append([mb, atk, f"{xa:.3f}", f"{xb:.3f}", f"{xb - xa:+.3f}", f"{sd:.3f} ({len(seeds)})"])
    if not rows:
        raise SystemExit(f"compare_results: no model/attack evaluated for seed {a.seed} in both {a.a} and {a.b}")
    print(f"# A = {a.a}, B = {a.b}, seed {a.seed}")
    for k, v in sorted(changed.items()):
        print(f"# training value that differs: {k}: {', '.join(sorted(v))}")
    print(table(rows, ["model", "attack", "A", "B", "B - A", "std of A over seeds (n)"]))
    absd = [abs(d) for d in diffs]
    print(
        f"\n{len(diffs)} cells: mean |B - A| {statistics.mean(absd):.3f}, max {max(absd):.3f}, "
        f"mean B - A {statistics.mean(diffs):+.3f}"
    )


if __name__ == "__main__":
    main()
