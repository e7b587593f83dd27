"""One job of the frontier under the code of two commits at once, one on each core: which code is
faster, on a box whose speed moves within the hour (both runs see the same speed).

    python bench/side_by_side.py --before 045c025 --configfile config/verdict.yaml \\
        --model mnist_pgd_at_H__equal_cost --job autoattack_0.3 --n 300 --rounds 2
    python bench/side_by_side.py --before HEAD --after-set batch-size=250 \\
        --model mnist_pgd_at_H__equal_cost --job autoattack_0.3      # one option, the same code

The job (``train`` or one of the frontier's attacks) is the command Snakemake's rule runs, as
bench/paper_gpu.py plans it (bench/neighbour.py checks that plan against the rule's), with one
thread, ``--n`` test images for an evaluation, and its outputs in a temporary folder per commit;
``--after-set OPTION=VALUE`` (without the dashes) changes one of the job's options in the "after"
run only.
Each commit's ``e2sad/`` and ``workflow/schemas/`` are exported (``git archive``) into a folder
of their own, where the job runs (``python -m e2sad`` imports the package of its working folder);
the data and the model are this checkout's. Each round starts both at once and times each to
its own end (wall clock); prints every round's seconds, the ratio after / before, and the
accuracy each evaluation wrote (the two codes agree where they compute the same function).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table  # noqa: E402
from neighbour import run_together, with_option  # noqa: E402
from paper_gpu import plan  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = ("--out", "--ckpt", "--log-csv")


def export(commit: str, dest: Path) -> Path:
    """``commit``'s e2sad package and the config schema it reads, under ``dest``."""
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "e2sad", "workflow/schemas"], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def job_words(a) -> list[str]:
    """The planned command of ``a.job`` for ``a.model`` seed ``a.seed``, with one thread and
    ``a.n`` images (an evaluation); one line when the job is not the frontier's or its input
    is missing."""
    _, _, chains = plan(a.configfile, [a.model], [a.seed], frontier=True)
    model, jobs = chains[f"{a.model}@seed{a.seed}"]
    found = {n.removeprefix("frontier "): c for n, c in jobs}
    if a.job not in found:
        raise SystemExit(f"--job {a.job}: not one of {a.model}'s jobs ({', '.join(found)})")
    words = shlex.split(found[a.job])
    needed = [words[words.index("--data") + 1]] + ([model] if a.job != "train" else [])
    for path in needed:
        if not (REPO / path).is_file():
            raise SystemExit(f"{path}: not there; make it first (snakemake --cores 2 {path} --configfile ...)")
    words = with_option(words, "--threads", "1")
    return with_option(words, "--n", str(a.n)) if a.job != "train" else words


def localize(words: list[str], outdir: Path) -> list[str]:
    """``words`` with this checkout's files absolute and the job's outputs under ``outdir``."""
    out = []
    for i, w in enumerate(words):
        if i > 0 and words[i - 1] in OUTPUTS:
            out.append(str(outdir / Path(w).name))
        elif "/" in w and not w.startswith("-") and (REPO / w).exists():
            out.append(str(REPO / w))
        else:
            out.append(sys.executable if w == "python" else w)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="the commit to compare against")
    ap.add_argument("--after", default="HEAD")
    ap.add_argument("--configfile", nargs="+", default=["config/verdict.yaml"])
    ap.add_argument("--model", required=True, help="a frontier model, e.g. mnist_pgd_at_H__equal_cost")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--job", required=True, help="train, or one of the frontier's attacks (autoattack_0.3, ...)")
    ap.add_argument("--n", type=int, default=300, help="test images of an evaluation")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--after-set", action="append", default=[], metavar="OPTION=VALUE")
    a = ap.parse_args(argv)
    words = job_words(a)
    after_words = words
    for setting in a.after_set:
        option, _, value = setting.partition("=")
        option = "--" + option.removeprefix("--")
        if option not in after_words or not value:
            options = " ".join(w for w in words if w.startswith("--"))
            raise SystemExit(f"--after-set {setting}: not OPTION=VALUE of the {a.job} job's options ({options})")
        after_words = with_option(after_words, option, value)
    with tempfile.TemporaryDirectory() as tmp:
        cmds = {}
        for label, commit in (("before", a.before), ("after", a.after)):
            outdir = Path(tmp, label, "out")
            cwd = export(commit, Path(tmp, label, "code"))
            outdir.mkdir(parents=True)
            cmds[label] = (localize(after_words if label == "after" else words, outdir), cwd)
        rows, ratios = [], []
        for r in range(a.rounds):
            before, after = run_together([["env", "-C", str(cwd), *c] for c, cwd in cmds.values()])
            ratios.append(after / before)
            rows.append([r + 1, f"{before:.1f}", f"{after:.1f}", f"{ratios[-1]:.3f}"])
        acc = {}
        for label, (c, _) in cmds.items():
            out = Path(c[c.index("--out") + 1])
            if out.suffix == ".json" and out.is_file():
                acc[label] = json.loads(out.read_text()).get("accuracy")
    changed = "".join(f" --{s.removeprefix('--').replace('=', ' ', 1)}" for s in a.after_set)
    print(f"{a.job} of {a.model} seed {a.seed} ({' '.join(a.configfile)}): before {a.before}, after {a.after}{changed}")
    print(table(rows, ["round", "before s", "after s", "after / before"]))
    print(f"median after / before: {statistics.median(ratios):.3f} over {a.rounds} rounds")
    if acc:
        print("accuracy: " + ", ".join(f"{k} {v}" for k, v in acc.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
