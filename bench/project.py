"""Projected cost of a whole study: FLOPs of every training and evaluation job of a config,
and, with ``--time``, the time they take on this device, from per-step times measured here.

For every model of the config (datasets in ``datasets:``), one training step of its defense
(with the model's hyperparameters, at the config's batch size, on its dataset's CNN) is
counted, x steps x seeds.  Evaluation: every (model, attack) cell of the white-box tables
(k x (F + B_in) per IFGSM, F + B_in for FGSM, plus one forward for the accuracy) on
``n_test`` images (null: the whole test set, 10,000 MNIST / 26,032 SVHN images), the
transfer crafts (one IFGSM per substitute) and evaluations, and the loss surfaces
(forwards on the grid).  FLOPs are those of matmuls and convolutions (forward and
backward), counted exactly on the meta device (nothing is computed, no data needed).

``--time`` also runs, on ``--device`` under the config's ``compute.precision``, each distinct
training step (``--reps`` after ``--warmup``, medians; a real optimizer step included), one
F + B_in and one forward at the evaluation batch size; it multiplies them out and prints
the projected time of each job group and of the study, the jobs run one at a time on one
device (the study's lower bound on one GPU; on a CPU, divide by the number of parallel
jobs for a rough wall time).  This is the measurement for a GPU: item 7 of the
performance issue.

Examples:
    python bench/project.py                                      # paper config, FLOPs
    python bench/project.py --time --device cuda                 # paper config on a GPU
    python bench/project.py --configfile config/reduced.yaml --time --threads 1
    python bench/project.py --configfile config/reduced.yaml --peak --threads 1   # the FLOP floor on this CPU
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PEAK, _FlopCount, machine, make_clock, setup, table, time_peak  # noqa: E402

from e2sad.attacks import input_grad  # noqa: E402
from e2sad.config.schema import load_yaml_strict, resolve_config  # noqa: E402
from e2sad.defenses import get_defense  # noqa: E402
from e2sad.models import build_model  # noqa: E402
from e2sad.train import make_optimizer, precision_context  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def net(cfg: dict, ds: str):
    """The paper's network of dataset ``ds`` as its declaration (``data.<ds>``) names it."""
    d = cfg["data"][ds]
    return build_model(d["network"], d["normalization"], d["channels"], d["size"], d["classes"])


N_TEST = {"mnist": 10_000, "svhn": 26_032}


def merged(paths: list[str]) -> dict:
    """config.yaml, then each overlay on top (nested keys merged, as Snakemake does), resolved: every
    default of the schema applied (:func:`e2sad.config.schema.resolve_config`)."""

    def update(base: dict, new: dict) -> dict:
        for k, v in new.items():
            base[k] = update(dict(base.get(k) or {}), v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
        return base

    cfg: dict = {}
    for p in paths:
        cfg = update(cfg, load_yaml_strict(p))
    return resolve_config(cfg)


def hparams(m: dict) -> dict:
    """The model's hyperparameters its defense takes (the defense's own list in e2sad.defenses)."""
    return {k: m[k] for k in get_defense(m["defense"])[1] if k in m}


def batch_of(cfg: dict, dataset: str, n: int, dev):
    d = cfg["data"][dataset]
    x = torch.rand(n, d["channels"], d["size"], d["size"], device=dev)
    y = torch.randint(0, 10, (n,), device=dev)
    return x, y


def train_step(model, opt, defense, hp, x, y, ctx):
    with ctx:
        step = defense(model, x, y, **hp)
    if opt is not None:
        opt.zero_grad(set_to_none=True)
    step.loss.backward(inputs=list(model.parameters()))
    if opt is not None:
        opt.step()


def attack_passes(a: dict) -> int:
    """Number of F + B_in pairs an attack runs (the accuracy forward comes on top)."""
    kind = a["kind"]
    if kind == "none":
        return 0
    if kind == "fgsm":
        return 1
    if kind == "ifgsm":
        return int(a["k"])
    raise SystemExit(f"project.py: attack kind '{kind}' not counted (tables use none, fgsm, ifgsm)")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configfile", nargs="*", default=[], help="overlays on top of config.yaml")
    ap.add_argument("--time", action="store_true", help="measure step times on --device and project")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--precision", default=None, help="default: the config's compute.precision")
    ap.add_argument(
        "--peak",
        action="store_true",
        help="measure this device's attainable peak (the best of a 2048^3 sgemm and the CNN's conv2 forward and "
        "backward, --threads threads) and print the study's FLOP floor at it",
    )
    ap.add_argument("--jobs", type=int, default=None, help="jobs at once for --peak (default: cores / threads; GPU: 1)")
    return ap.parse_args(argv)


def study_models(cfg: dict) -> dict:
    """The models `all` trains: those of the tables and figures of the active datasets (not, e.g.,
    the frontier's own models, which only `snakemake frontier` trains)."""
    datasets = cfg["datasets"]
    used = {
        m
        for t in [*cfg["tables"].values(), *cfg["figures"].values()]
        if t["dataset"] in datasets
        for m in t["models"] + t.get("substitutes", [])
    }
    return {n: m for n, m in cfg["models"].items() if m["dataset"] in datasets and n in used}


def training_kinds(cfg: dict, models: dict) -> tuple[dict, dict]:
    """One training step per distinct (dataset, defense, hyperparameters), its FLOPs counted on the meta device."""
    meta = torch.device("meta")
    kinds: dict[tuple, list[str]] = defaultdict(list)
    for name, m in models.items():
        kinds[(m["dataset"], m["defense"], tuple(sorted(hparams(m).items())))].append(name)
    step_flops = {}
    for key in kinds:
        ds, defense, hp = key
        model = net(cfg, ds).to(meta)
        x, y = batch_of(cfg, ds, cfg["training"][ds]["batch_size"], meta)
        with _FlopCount() as c:
            train_step(model, None, get_defense(defense)[0], dict(hp), x, y, contextlib.nullcontext())
        step_flops[key] = float(c.total)
    return kinds, step_flops


def per_image_flops(cfg: dict) -> dict[str, tuple[float, float]]:
    """(F, F + B_in) FLOPs of one image, per dataset."""
    meta, out = torch.device("meta"), {}
    for ds in cfg["datasets"]:
        model = net(cfg, ds).to(meta).eval()
        x, y = batch_of(cfg, ds, 1, meta)
        with _FlopCount() as c:
            model(x)
        fwd = float(c.total)
        with _FlopCount() as c:
            input_grad(model, x, y)
        out[ds] = (fwd, float(c.total))
    return out


def eval_jobs(cfg: dict, models: dict, per_img: dict, n_test: dict, seeds: int) -> list[tuple]:
    """(group, label, FLOPs, timing recipe) of the white-box, transfer and surface jobs."""
    jobs, cells, transfers = [], set(), []
    for t in cfg["tables"].values():
        if t["dataset"] not in cfg["datasets"]:
            continue
        if t.get("kind") == "transfer":
            transfers.append(t)
            continue
        cells |= {(m, at) for m in t["models"] for at in t["attacks"]}
    # a transfer substitute's own white-box evaluation of the crafted attack reads the crafted
    # examples (evaluate --adv): one forward per image, the attack is the craft job's
    crafted = {(s, t["attack"]) for t in transfers for s in t["substitutes"]}
    for m, at in sorted(cells):
        ds = models[m]["dataset"]
        k = 0 if (m, at) in crafted else attack_passes(cfg["attacks"][at])
        n = n_test[ds] * seeds
        fwd, fb = per_img[ds]
        jobs.append(("evaluate", f"{m} {at}", n * (k * fb + fwd), ("eval", ds, n, k, 1)))
    for t in transfers:
        ds = t["dataset"]
        k = attack_passes(cfg["attacks"][t["attack"]])
        n = n_test[ds] * seeds
        fwd, fb = per_img[ds]
        for s in t["substitutes"]:
            jobs.append(("craft_transfer", s, n * (k * fb + fwd), ("eval", ds, n, k, 1)))  # + its accuracy
        for m in t["models"]:
            nf = n * len(t["substitutes"])
            jobs.append(("evaluate_transfer", m, nf * fwd, ("eval", ds, nf, 0, 1)))
    for f in cfg["figures"].values():
        if f["dataset"] not in cfg["datasets"]:
            continue
        fwd, fb = per_img[f["dataset"]]
        for m in f["models"]:
            for at in f["panels"].values():
                # the attack direction (k x (F + B_in) per image) and a forward of every image at every grid point
                n_fb = f["n"] * attack_passes(cfg["attacks"][at])
                n_f = f["n"] * f["points"] ** 2
                jobs.append(("surface", f"{m} {at}", n_fb * fb + n_f * fwd, ("eval_fb", f["dataset"], n_fb, n_f)))
    return jobs


def _median_time(clock, fn, reps: int, warmup: int) -> float:
    times = []
    for r in range(warmup + reps):
        t0 = clock()
        fn()
        if r >= warmup:
            times.append(clock() - t0)
    return statistics.median(times)


def measure_times(a, cfg: dict, dev, kinds: dict) -> tuple[dict, dict]:
    """Median step time per training kind, and (F, F + B_in) seconds per image per dataset, on ``dev``."""
    clock = make_clock(dev, "wall")
    precision = a.precision or cfg["compute"]["precision"]
    ctx = precision_context(precision, dev)
    print(f"# {machine(dev)}; precision {precision}; reps {a.reps} (+{a.warmup} warmup)", flush=True)
    step_time, times = {}, {}
    for key in kinds:
        ds, defense, hp = key
        tr = cfg["training"][ds]
        model = net(cfg, ds).to(dev).train()
        opt = make_optimizer(tr["optimizer"], model.parameters(), tr["lr"])
        x, y = batch_of(cfg, ds, tr["batch_size"], dev)
        step = functools.partial(train_step, model, opt, get_defense(defense)[0], dict(hp), x, y, ctx)
        step_time[key] = _median_time(clock, step, a.reps, a.warmup)
        print(f"#   step {ds} {defense} {dict(hp)}: {1e3 * step_time[key]:.1f} ms", flush=True)
    for ds in cfg["datasets"]:
        bs = cfg["evaluation"]["batch_size"]
        model = net(cfg, ds).to(dev).eval()
        x, y = batch_of(cfg, ds, bs, dev)
        tf, tb = [], []  # interleaved, one of each per repetition
        for r in range(a.warmup + a.reps):
            t0 = clock()
            with torch.no_grad():
                model(x)
            t1 = clock()
            input_grad(model, x, y)
            t2 = clock()
            if r >= a.warmup:
                tf.append(t1 - t0)
                tb.append(t2 - t1)
        tf, tb = statistics.median(tf), statistics.median(tb)
        times[ds] = (tf / bs, tb / bs)
        print(f"#   eval {ds}: forward {1e3 * tf:.1f} ms, F + B_in {1e3 * tb:.1f} ms per batch of {bs}", flush=True)
    return step_time, times


def job_time(recipe, step_time: dict, times: dict) -> float:
    if recipe[0] == "train":
        return step_time[recipe[1]] * recipe[2]
    if recipe[0] == "eval":
        _, ds, n, k, fwd = recipe
        return n * (k * times[ds][1] + fwd * times[ds][0])
    _, ds, n_fb, n_f = recipe
    return n_fb * times[ds][1] + n_f * times[ds][0]


def report(cfg: dict, jobs: list, n_test: dict, seeds: int, timing) -> float:
    """Print the per-model and per-group tables; returns the study's FLOPs. ``timing``: (step_time,
    times) when measured, else None."""
    groups: dict[str, list] = defaultdict(lambda: [0, 0.0, 0.0])
    rows = []
    for g, label, fl, recipe in jobs:
        t = job_time(recipe, *timing) if timing else None
        groups[g][0] += 1
        groups[g][1] += fl
        groups[g][2] += t or 0.0
        if g == "train":
            rows.append([label, f"{fl / 1e12:,.1f}", f"{t / 60:.2f}" if timing else "-"])
    total_fl = sum(v[1] for v in groups.values())
    total_t = sum(v[2] for v in groups.values())
    tr = cfg["training"]
    scale = ", ".join(
        f"{ds}: {tr[ds]['steps']} steps x batch {tr[ds]['batch_size']}, {n_test[ds]} test images"
        for ds in cfg["datasets"]
    )
    print(f"\n# study: {cfg['scale']} ({scale}); {seeds} seed(s); datasets {', '.join(cfg['datasets'])}")
    print("\nTraining, per model:")
    print(table(rows, ["model", "TFLOP", "minutes"]))
    print("\nPer job group:")
    minutes = (lambda t: f"{t / 60:.2f}") if timing else (lambda t: "-")
    grows = [[g, n, f"{fl / 1e12:,.1f}", f"{100 * fl / total_fl:.1f}", minutes(t)] for g, (n, fl, t) in groups.items()]
    grows.append(["total", sum(v[0] for v in groups.values()), f"{total_fl / 1e12:,.1f}", "100.0", minutes(total_t)])
    print(table(grows, ["group", "jobs", "TFLOP", "% FLOPs", "minutes (one job at a time)"]))
    for tflops in (50, 100, 200, 400):
        print(f"  at a sustained {tflops} TFLOP/s the study's FLOPs take {total_fl / tflops / 1e12 / 60:.2f} min")
    return total_fl


def report_peak(a, cfg: dict, dev, total_fl: float) -> None:
    rate = measure_peak(cfg, dev, a.reps, a.warmup)
    jobs = a.jobs or (1 if dev.type == "cuda" else max(1, (os.cpu_count() or 1) // torch.get_num_threads()))
    peak = max(rate.values())
    floor = total_fl / (peak * jobs) / 60
    print(
        f"\nPeak on {machine(dev)}, {torch.get_num_threads()} thread(s) per job: "
        + ", ".join(f"{PEAK[k]} {rate[k] * 1e-9:.1f}" for k in PEAK)
        + " GFLOP/s"
    )
    print(
        f"  FLOP floor: with {jobs} such job(s) at once the study's FLOPs take at least {floor:.1f} min at "
        f"{peak * 1e-9:.1f} GFLOP/s per job, {floor / 0.8:.1f} min at 80 % of it (process starts, data loading "
        "and the ops without FLOPs come on top)"
    )


def main(argv=None):
    a = parse_args(argv)
    # threads first: torch ops that run before set_num_threads (here the weight initialisation of the
    # models counted below) leave the process slower at 1 thread (bench/README.md)
    dev = setup(a.device, a.threads) if a.time or a.peak else None
    cfg = merged([str(REPO / "config.yaml"), *a.configfile])
    seeds = len(cfg["seeds"])
    models = study_models(cfg)
    kinds, step_flops = training_kinds(cfg, models)
    n_test = {ds: cfg["evaluation"]["n_test"] or N_TEST[ds] for ds in cfg["datasets"]}
    jobs = []  # (group, label, flops, timing recipe)
    for key, names in kinds.items():
        steps = cfg["training"][key[0]]["steps"]
        for n in names:
            jobs.append(("train", n, step_flops[key] * steps * seeds, ("train", key, steps * seeds)))
    jobs += eval_jobs(cfg, models, per_image_flops(cfg), n_test, seeds)
    timing = measure_times(a, cfg, dev, kinds) if a.time else None
    total_fl = report(cfg, jobs, n_test, seeds, timing)
    if a.peak:
        report_peak(a, cfg, dev, total_fl)


def measure_peak(cfg: dict, dev, reps: int, warmup: int) -> dict[str, float]:
    """FLOP/s of bench/common.py's peak ops (a 2048^3 sgemm, Table A.1's conv2 forward and backward at the
    first dataset's training batch, in the config's memory format): medians of ``reps`` after ``warmup``."""
    bs = cfg["training"][cfg["datasets"][0]]["batch_size"]
    model = build_model("cnn_a1", channels_last=cfg["compute"]["channels_last"]).to(dev)
    x = torch.rand(bs, 1, 28, 28, device=dev)
    clock = make_clock(dev, "wall")
    T: dict[str, list[float]] = {k: [] for k in PEAK}
    for r in range(warmup + reps):
        time_peak(model, x, clock, T if r >= warmup else {k: [] for k in PEAK})
    with _FlopCount() as c:
        fl: dict[str, list[float]] = {k: [] for k in PEAK}
        time_peak(model, x, lambda: float(c.total), fl)
    return {k: fl[k][0] / statistics.median(T[k]) for k in PEAK}


if __name__ == "__main__":
    main()
