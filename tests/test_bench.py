"""bench/project.py counts the jobs the workflow plans (its projection covers the whole study)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from helpers_data import job_stats
from test_workflow import REPO, paper_plan_override, smk


def test_project_counts_the_jobs_snakemake_plans_for_the_paper_study(tmp_path):
    plan = job_stats(smk("-n", "all", "--configfile", "config.yaml", str(paper_plan_override(tmp_path))))
    out = subprocess.run(
        [sys.executable, "bench/project.py"], cwd=REPO, capture_output=True, text=True, check=True, timeout=300
    ).stdout
    groups = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s+[\d,.]+\s+[\d.]+", out, re.M)}
    assert groups.pop("total") == sum(groups.values())
    assert groups == {g: plan[g] for g in groups}, (groups, plan)
    assert set(groups) == {"train", "evaluate", "craft_transfer", "evaluate_transfer", "surface"}
    # IFGSM-AT k=30 is the costliest training: (k+1)F + k B_in + 2 B_w = 64.9 F against natural's 2.95 F
    rows = re.finditer(r"^(mnist_\w+)\s+([\d,.]+)\s", out, re.M)
    train = {m.group(1): float(m.group(2).replace(",", "")) for m in rows}
    assert 21.5 < train["mnist_ifgsm03_H"] / train["mnist_natural_H"] < 22.5


def test_project_peak_prints_the_flop_floor_of_its_own_measurements():
    """--peak: the reduced study's FLOPs over (the best peak op's rate x jobs at once), in minutes."""
    out = subprocess.run(
        [sys.executable, "bench/project.py", "--configfile", "config/reduced.yaml", "--peak", "--threads", "1"]
        + ["--jobs", "2", "--reps", "1", "--warmup", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    total = float(re.search(r"^total\s+\d+\s+([\d,.]+)", out, re.M).group(1).replace(",", "")) * 1e12
    ops = r"(?:sgemm 2048\^3|conv2 forward|conv2 backward \(in \+ w\)) ([\d.]+)"
    rates = [float(v) * 1e9 for v in re.findall(ops, out)]
    floor = float(re.search(r"with 2 such job\(s\) at once the study's FLOPs take at least ([\d.]+) min", out).group(1))
    assert len(rates) == 3 and min(rates) > 0
    assert total > 50e12  # the reduced study: ~120 TFLOP
    assert abs(floor - total / (2 * max(rates)) / 60) < 0.06


def bench(script: str, *args: str) -> str:
    """Standard output of ``python bench/<script> <args>`` run from the repository."""
    cmd = [sys.executable, f"bench/{script}", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True, timeout=300, env=env).stdout


def test_bench_training_prints_a_roofline_against_the_peak_of_the_same_run():
    """The roofline column: exact GFLOP of each pass (F of batch 8 = 8 forwards of one image),
    achieved GFLOP/s and a fraction of the peak measured in the same run."""
    from e2sad.models import TableA1CNN, forward_flops

    args = ["--threads", "1", "--batch-size", "8", "--reps", "1", "--warmup", "0", "--only", "natural", "--ks", ""]
    out = bench("bench_training.py", *args, "--no-merge")
    assert "Roofline" in out and "sgemm 2048^3" in out
    f = re.search(r"^F  forward kept for backward\s+([\d.]+)\s+([\d.]+)\s+(\d+)%$", out, re.M)
    assert f, out
    assert float(f.group(1)) == round(8 * forward_flops(TableA1CNN(), (1, 28, 28)) * 1e-9, 2)
    assert float(f.group(2)) > 0 and 0 < int(f.group(3)) < 200
    step = re.search(r"^step: natural\s+([\d.]+)\s+([\d.]+)\s+(\d+)%$", out, re.M)
    assert step and float(step.group(1)) > float(f.group(1))  # a step is more than its forward


def test_paper_gpu_checkpoint_pieces_round_trip(tmp_path, monkeypatch):
    """bench/paper_gpu.py: an unfinished training's checkpoint leaves in pieces (the device returns
    files of at most 16 MiB) with its log, and comes back whole in a later session; a checkpoint
    already there (a warm machine) is kept."""
    sys.path.insert(0, str(REPO / "bench"))
    import paper_gpu

    monkeypatch.setattr(paper_gpu, "PIECE", 1000)
    ckpt = tmp_path / "run" / "ckpt.pt"
    ckpt.parent.mkdir()
    data = os.urandom(2500)
    ckpt.write_bytes(data)
    (tmp_path / "run" / "ckpt.pt.log.csv").write_text("step,loss\n1,2.3\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "m.ckpt.07").write_bytes(b"stale")  # a piece of an older call goes
    assert paper_gpu.split_ckpt(ckpt, out, "m") == 3
    assert sorted(p.name for p in out.iterdir()) == ["m.ckpt.00", "m.ckpt.01", "m.ckpt.02", "m.ckpt.log.csv"]
    assert max(p.stat().st_size for p in out.glob("m.ckpt.0*")) == 1000
    back = tmp_path / "next" / "ckpt.pt"
    assert paper_gpu.join_ckpt(out, "m", back)
    assert back.read_bytes() == data
    assert (tmp_path / "next" / "ckpt.pt.log.csv").read_text() == "step,loss\n1,2.3\n"
    back.write_bytes(b"newer")
    assert not paper_gpu.join_ckpt(out, "m", back) and back.read_bytes() == b"newer"
    assert not paper_gpu.join_ckpt(out, "other", tmp_path / "x.pt")
    assert paper_gpu.ckpt_of("python -m e2sad train --ckpt a/b.pt --out c.pt") == "a/b.pt"


def test_bench_ops_splits_each_pass_into_ops_whose_flops_add_up():
    """bench/ops.py: per op of F + B_in and F + B_w, exact GFLOP (they add up to the pass's, and
    F + B_in is two forwards' worth: FirstConv2d's input gradient is one GEMM of conv1's size),
    times that with the rest add up to the pass, and a ceiling at or above the pass's fraction."""
    from e2sad.models import TableA1CNN, forward_flops

    out = bench("ops.py", "--threads", "1", "--batch-size", "8", "--reps", "1", "--warmup", "0")
    blocks = re.split(r"^(F \+ B_\w+) \(.*?\): ([\d.]+) GFLOP in ([\d.]+) ms", out, flags=re.M)[1:]
    assert [b for b in blocks[::4]] == ["F + B_in", "F + B_w"], out
    for label, total, ms, body in zip(*[iter(blocks)] * 4):
        rows = re.findall(r"^(\w+)\s+[\dx ]+?\s+(\d+)\s+(-?[\d.]+)\s+-?[\d.]+%\s+([\d.]+)\s", body, re.M)
        assert {r[0] for r in rows} >= {"convolution", "mm", "addmm"}, body
        assert abs(sum(float(r[3]) for r in rows) - float(total)) < 0.005, (label, rows)
        rest = re.findall(
            r"^(?:\d+ more ops without FLOPs|outside ops \(autograd, Python\))\s+(-?[\d.]+)\s", body, re.M
        )
        timed = [float(m) for m in re.findall(r"^\S.*?\s(-?[\d.]+)\s+-?[\d.]+%", body, re.M)]
        assert len(rest) == 2 and abs(sum(timed) - float(ms)) < 0.02 * len(timed), (label, timed, ms)
        frac, ceil = re.search(r"= (\d+)% of the peak;.*\n.*ceiling.*: (\d+)%", body).groups()
        assert 0 < int(frac) <= int(ceil)
    f = 8 * forward_flops(TableA1CNN(), (1, 28, 28)) * 1e-9
    assert float(blocks[1]) == round(2 * f, 3)


def test_bench_variants_times_each_compute_choice_against_the_default():
    """bench/variants.py: one row per variant with both passes' times and ratios to the default
    (1.000 for the default itself), and each variant's input gradient equal to the default's
    within float rounding (fp32) or bf16's rounding (bf16): the variants are the same math."""
    out = bench("variants.py", "--threads", "1", "--batch-size", "8", "--reps", "2", "--warmup", "0")
    rows = {
        m[0]: m[1:]
        for m in re.findall(r"^(\w+)\s+([\d.e+-]+)\s+([\d.]+)\s+\S+\s+([\d.]+)\s+([\d.]+)\s+\S+\s+([\d.]+)$", out, re.M)
    }
    assert set(rows) == {"default", "nchw", "plain_conv1", "bf16"}, out
    assert rows["default"][0] == "0.0e+00" and rows["default"][2] == rows["default"][4] == "1.000"
    for name in ("nchw", "plain_conv1"):
        assert float(rows[name][0]) < 1e-4, (name, out)
    assert 1e-5 < float(rows["bf16"][0]) < 1, out  # bf16 moves an untrained net's grad_x by ~25 %
    assert all(float(r[1]) > 0 and float(r[3]) > 0 for r in rows.values())


def test_run_jobs_reads_each_jobs_seconds_from_a_snakemake_log():
    """bench/run_jobs.py: two jobs interleaved as Snakemake prints them (a start stamp before each
    rule, a stamp before each Finished line): each job's own seconds, its attack as its kind."""
    sys.path.insert(0, str(REPO / "bench"))
    import run_jobs

    log = "\n".join(
        [
            "[Mon Dec  7 08:55:43 2026]",
            "localrule train:",
            "    jobid: 142",
            "    wildcards: model=m, seed=1",
            "[Mon Dec  7 08:55:45 2026]",
            "rule frontier_evaluate:",
            "    jobid: 7",
            "    wildcards: model=m, seed=0, attack=pgd50x10_0.3",
            "[Mon Dec  7 08:58:47 2026]",
            "Finished jobid: 7 (Rule: frontier_evaluate)",
            "[Mon Dec  7 09:00:00 2026]",
            "Finished jobid: 142 (Rule: train)",
        ]
    )
    jobs = run_jobs.read_jobs(log)
    assert jobs["seconds"].tolist() == [182.0, 257.0]
    assert [run_jobs.kind(j) for _, j in jobs.iterrows()] == ["frontier_evaluate pgd50x10", "train"]


def _normalized(cmd: str) -> str:
    """A command line without its log redirection and thread count (the GPU script runs each job
    with 2 threads and its own log), quoting as the shell reads it."""
    words = shlex.split(cmd.split(" 2>&1 | tee ")[0])
    i = words.index("--threads")
    return " ".join(words[:i] + words[i + 2 :])


def test_paper_gpu_frontier_mode_runs_the_frontier_rules_command_lines(tmp_path):
    """bench/paper_gpu.py --frontier (the own-recipe points on a lent GPU, issue 30 item 2b): for
    each model and seed, the training and the frontier evaluations Snakemake's rules would run, to
    the same files, so that `snakemake frontier` afterwards reads them as its own."""
    sys.path.insert(0, str(REPO / "bench"))
    import paper_gpu

    overlay = tmp_path / "o.yaml"
    overlay.write_text(yaml.safe_dump({"results": str(tmp_path / "res")}))
    configs = ["config/verdict.yaml", "config/verdict-own-recipe.yaml", str(overlay)]
    models = ["mnist_trades_H__own_recipe", "mnist_pgd_at_H__own_recipe"]
    plan_, _, chains = paper_gpu.plan(configs, models, [1], frontier=True)
    assert list(chains) == [f"{m}@seed1" for m in models]
    attacks = plan_.study.frontier["attacks"]
    ours = {}
    for model, jobs in chains.values():
        assert [n for n, _ in jobs] == ["train"] + [f"frontier {a}" for a in attacks]
        assert jobs[0][1].endswith(f"--out {model}") and "--steps 46875 " in chains[f"{models[0]}@seed1"][1][0][1]
        ours.update({_normalized(c): n for n, c in jobs})
    targets = [plan_.study.layout.path("frontier_eval", model=m, seed=1, attack=a) for m in models for a in attacks]
    out = smk("-n", "-p", *targets, "--configfile", *configs)
    shells = [line.removeprefix("Shell command: ") for line in out.splitlines()]
    theirs = {_normalized(c) for c in shells if c.startswith(("python -m e2sad train ", "python -m e2sad evaluate "))}
    assert set(ours) == theirs, set(ours) ^ theirs
    with pytest.raises(SystemExit) as bad:
        paper_gpu.plan(configs, ["mnist_natural_H__own_recipe"], [0], frontier=True)
    message = str(bad.value)
    # one short line: the bad name, the nearest declared names, not the whole list
    assert "\n" not in message and len(message) < 250, message
    assert "mnist_natural_H__own_recipe not among the frontier's" in message and "(nearest: mnist_" in message


def test_neighbour_times_the_frontier_rules_own_evaluation_command(tmp_path):
    """bench/neighbour.py (a job alone and beside its copy): the command it times is the frontier's
    evaluation job as bench/paper_gpu.py plans it (checked against Snakemake's above), with only the
    images, the threads and the output changed; a wrong attack or a model not yet trained is one line."""
    sys.path.insert(0, str(REPO / "bench"))
    import neighbour
    import paper_gpu

    overlay = tmp_path / "o.yaml"
    overlay.write_text(yaml.safe_dump({"results": str(tmp_path / "res")}))
    configs = ["config/verdict.yaml", str(overlay)]
    args = SimpleNamespace(configfile=configs, model="mnist_pgd_at_H__equal_cost", seed=0, attack="pgd50x10_0.3", n=50)
    with pytest.raises(SystemExit) as missing:  # nothing trained in the empty results folder
        neighbour.evaluate_cmd(args, "x.json")
    assert "\n" not in str(missing.value) and "model.pt: not there" in str(missing.value)
    _, _, chains = paper_gpu.plan(configs, [args.model], [0], frontier=True)
    model_file, jobs = chains[f"{args.model}@seed0"]
    words = shlex.split(dict(jobs)["frontier pgd50x10_0.3"])
    for path in (model_file, words[words.index("--data") + 1]):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(b"")
    cmd = neighbour.evaluate_cmd(args, "x.json")
    assert cmd[0] == sys.executable and cmd[1:3] == ["-m", "e2sad"]
    for option, value in (("--n", "50"), ("--threads", "1"), ("--out", "x.json")):
        assert cmd[cmd.index(option) + 1] == value
        i = words.index(option)
        words = words[: i + 1] + [value] + words[i + 2 :]
    assert cmd[1:] == words[1:]
    args.attack = "pgd20_0.3"
    with pytest.raises(SystemExit) as bad:
        neighbour.evaluate_cmd(args, "x.json")
    assert "\n" not in str(bad.value) and "--attack pgd20_0.3: not a frontier attack" in str(bad.value)


def test_side_by_side_runs_the_planned_job_of_each_commit_in_its_own_tree(tmp_path):
    """bench/side_by_side.py (one job under two commits at once): the command is the frontier's
    planned job with one thread and --n images, its data and model this checkout's (absolute), its
    outputs in the commit's own folder; the commit's package is exported where it runs; a job that
    is not the model's or a model not trained is one line."""
    sys.path.insert(0, str(REPO / "bench"))
    import paper_gpu
    import side_by_side

    overlay = tmp_path / "o.yaml"
    overlay.write_text(yaml.safe_dump({"results": str(tmp_path / "res")}))
    args = SimpleNamespace(
        configfile=["config/verdict.yaml", str(overlay)],
        model="mnist_pgd_at_H__equal_cost",
        seed=0,
        job="pgd50x10_0.3",
        n=40,
    )
    with pytest.raises(SystemExit) as missing:
        side_by_side.job_words(args)
    assert "\n" not in str(missing.value) and "mnist.pt: not there; make it first" in str(missing.value)
    model_file, jobs = paper_gpu.plan(args.configfile, [args.model], [0], frontier=True)[2][f"{args.model}@seed0"]
    planned = shlex.split(dict(jobs)["frontier pgd50x10_0.3"])
    for path in (model_file, planned[planned.index("--data") + 1]):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(b"")
    words = side_by_side.job_words(args)
    assert words[words.index("--n") + 1] == "40" and words[words.index("--threads") + 1] == "1"
    outdir = tmp_path / "after" / "out"
    cmd = side_by_side.localize(words, outdir)
    assert cmd[0] == sys.executable and cmd[1:3] == ["-m", "e2sad"]
    assert cmd[cmd.index("--out") + 1] == str(outdir / "pgd50x10_0.3.json")
    assert cmd[cmd.index("--model") + 1] == str(Path(model_file).resolve())
    assert len(cmd) == len(planned)
    with pytest.raises(SystemExit) as unknown:  # the after run's one change must be an option of the job
        side_by_side.main(
            ["--before", "HEAD", "--configfile", *args.configfile, "--model", args.model]
            + ["--job", args.job, "--after-set", "restart=2"]
        )
    assert "\n" not in str(unknown.value) and "--after-set restart=2: not OPTION=VALUE" in str(unknown.value)
    assert "--restarts" in str(unknown.value)
    args.job = "autoattack_0.5"
    with pytest.raises(SystemExit) as bad:
        side_by_side.job_words(args)
    assert "\n" not in str(bad.value) and "--job autoattack_0.5: not one of" in str(bad.value)
    code = side_by_side.export("HEAD", tmp_path / "code")
    assert (code / "e2sad" / "__main__.py").is_file() and (
        code / "workflow" / "schemas" / "config.schema.yaml"
    ).is_file()
