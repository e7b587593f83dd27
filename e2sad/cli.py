"""Command line: ``python -m e2sad <subcommand> ...``; the workflow's rules call this.

Every input, output and hyperparameter is an explicit option; a defense's or an
attack's options come from its declaration (:mod:`e2sad.declare`).  Each
subcommand parses, calls one library function, and writes its outputs with a
``.meta.json`` provenance sidecar (:func:`_sidecars`).  Bad input gives one
line, ``e2sad: error: ...``, naming the file or value, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from .errors import ConfigError, E2sadError

#: subcommand -> (help, function adding its options, function running it); filled by @command
COMMANDS: dict[str, tuple] = {}


def command(name: str, help: str, options):
    """Register ``fn`` as subcommand ``name`` with the options that ``options(parser)`` adds."""

    def deco(fn):
        COMMANDS[name] = (help, options, fn)
        return fn

    return deco


def _positive_int(s: str) -> int:
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{s} is not allowed, must be an integer >= 1")
    return v


def _frac(s: str) -> float:
    """A float, also written as a fraction like 24/255."""
    try:
        if "/" in s:
            a, b = s.split("/")
            return float(a) / float(b)
        return float(s)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None


def _eps(s: str) -> float:
    v = _frac(s)
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"eps {s} is not allowed, must be in (0, 1]")
    return v


def _unit(s: str) -> float:
    v = _frac(s)
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"{s} is not allowed, must be in [0, 1]")
    return v


def _smoothing(s: str):
    if s.lower() in ("none", "hard", "1", "1.0"):
        return None
    v = _frac(s)
    if not 0.1 < v <= 1:
        raise argparse.ArgumentTypeError(f"label smoothing {s} is not allowed, must be in (0.1, 1] or none")
    return v


def _json_arg(text: str, what: str = "--spec") -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} is not valid JSON ({exc})") from None


def _sidecars(outputs, a, t0, *, inputs=(), values=None, seed=None, extra=None) -> None:
    """The provenance sidecar of every output (values: the parsed options unless given)."""
    from .provenance import write_sidecar

    if values is None:
        values = {k: v for k, v in vars(a).items() if k not in ("func", "stop_after")}
    for o in outputs:
        if o:
            write_sidecar(o, values=values, seed=seed, started=t0, inputs=list(inputs) or None, extra=extra)


# ---- shared option groups


def _run_opts(p):
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--threads", type=_positive_int, default=None, help="torch intra-op threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--channels-last",
        action="store_true",
        help="model in NHWC memory order (compute.channels_last: faster on the CPU; equal within float rounding)",
    )


def _net_opts(p):
    """The network of a dataset's declaration; input shape and classes come from the data."""
    from .models import NETWORKS, NORMALIZATIONS

    p.add_argument("--dataset", required=True, help="dataset name (checked against the prepared file)")
    p.add_argument("--network", default="cnn_a1", choices=list(NETWORKS), help="cnn_a1: Table A.1, cnn_a2: Table A.2")
    p.add_argument("--normalization", default="none", choices=list(NORMALIZATIONS), help="input normalization layer")


def _eval_opts(p):
    p.add_argument("--name", required=True, help="model name written in the rows")
    p.add_argument("--model", required=True)
    _net_opts(p)
    p.add_argument("--data", required=True, help="prepared tensor file")
    p.add_argument("--n", type=_positive_int, default=None, help="first n test images (default all)")
    p.add_argument("--batch-size", type=_positive_int, default=500)
    _run_opts(p)


def _attack_opts(p):
    from .attacks import ATTACKS

    p.add_argument("--attack", required=True, help=", ".join(ATTACKS))
    p.add_argument("--attack-name", default=None, help="the attack's name in the config")
    ATTACKS.add_cli_options(p)


def _attack_params(a) -> dict:
    from .attacks import ATTACKS

    return ATTACKS.from_cli(a.attack, a)


def _table_outs(p):
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-tex", required=True)
    p.add_argument("--out-html", required=True)


def _load_eval(a):
    """(model, first n test images, their labels) for an evaluation subcommand."""
    from .data import load_prepared
    from .train import load_model, resolve_device

    dev = resolve_device(a.device)
    data = load_prepared(a.data, dev, splits=("test",))
    if data["dataset"] != a.dataset:
        raise ConfigError(f"{a.data} holds {data['dataset']}, not {a.dataset}")
    shape = tuple(data["x_test"].shape[1:])
    model = load_model(a.model, a.network, a.normalization, shape, data["classes"], dev, a.channels_last)
    n = a.n or data["x_test"].shape[0]
    return model, data["x_test"][:n], data["y_test"][:n]


# ---- data and training


def _prepare_opts(p):
    from .data import FORMATS

    p.add_argument("--dataset", required=True, help="the dataset's name (stored in the file)")
    p.add_argument("--format", default="idx", choices=list(FORMATS), help="file format of --src")
    p.add_argument("--src", required=True, help="folder with the original files")
    p.add_argument("--download", action="store_true", help="download with torchvision if missing")
    p.add_argument("--torchvision", default=None, help="torchvision dataset class to download (idx: MNIST, ...)")
    p.add_argument("--channels", type=_positive_int, default=None)
    p.add_argument("--size", type=_positive_int, default=None, help="image side in pixels")
    p.add_argument("--classes", type=_positive_int, default=10)
    p.add_argument("--pixel-range", type=float, nargs=2, default=(0, 255), help="raw pixel range mapped to [0, 1]")
    p.add_argument("--out", required=True)


@command("prepare-data", "convert a dataset's files (idx, svhn_mat, npz) to one tensor file", _prepare_opts)
def cmd_prepare(a):
    from .data import prepare

    t0 = time.time()
    shapes = prepare(
        a.dataset,
        a.format,
        a.src,
        a.out,
        a.download,
        torchvision=a.torchvision,
        channels=a.channels,
        size=a.size,
        classes=a.classes,
        pixel_range=tuple(a.pixel_range),
    )
    _sidecars([a.out], a, t0, extra={"shapes": shapes})
    print(f"prepared {a.dataset}: " + ", ".join(f"{k} {tuple(v)}" for k, v in shapes.items()), file=sys.stderr)


def _train_opts(p):
    from .defenses import DEFENSES
    from .train import COMPILE_MODES

    p.add_argument("--name", default="model", help="model name, for logs")
    _net_opts(p)
    p.add_argument("--data", required=True, help="prepared tensor file")
    p.add_argument("--defense", required=True, help=", ".join(DEFENSES))
    DEFENSES.add_cli_options(p)
    p.add_argument("--smoothing", type=_smoothing, default=None, help="correct-class probability, or none")
    p.add_argument("--steps", type=_positive_int, required=True, help="training iterations")
    p.add_argument("--batch-size", type=_positive_int, required=True)
    p.add_argument("--optimizer", default="adam", help="adam or sgd")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (the peak of a cyclic schedule)")
    p.add_argument("--schedule", default="constant", help="learning-rate schedule: constant, cyclic, piecewise")
    p.add_argument("--precision", default="fp32", help="fp32, bf16, tf32")
    p.add_argument(
        "--merge-clean",
        action="store_true",
        help="one backward gives the clean loss's parameter grads and the first attack gradient",
    )
    p.add_argument(
        "--compile",
        default="none",
        choices=COMPILE_MODES,
        help="torch.compile mode for the training step (compute.compile; none: eager)",
    )
    p.add_argument("--ckpt", default=None, help="checkpoint path (kept outside the outputs)")
    p.add_argument("--ckpt-every", type=_positive_int, default=500)
    p.add_argument("--progress-every", type=int, default=50)
    p.add_argument("--log-every", type=_positive_int, default=50, help="move the loss terms to the host every N steps")
    p.add_argument("--snapshots", type=_positive_int, nargs="*", default=[], help="steps after which the model is kept")
    p.add_argument("--snapshot-dir", default=None, help="folder of the snapshots (step<N>.pt)")
    p.add_argument("--log-csv", default=None, help="per-step log output")
    p.add_argument("--stop-after", type=_positive_int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", required=True, help="model state_dict output (.pt)")
    _run_opts(p)


@command("train", "train one model with one defense", _train_opts)
def cmd_train(a):
    from .data import load_prepared
    from .defenses import DEFENSES
    from .train import cleanup_checkpoint, resolve_device, save_model, train, write_log

    t0 = time.time()
    hp = DEFENSES.from_cli(a.defense, a)
    data = load_prepared(a.data, resolve_device(a.device))
    if data["dataset"] != a.dataset:
        raise ConfigError(f"{a.data} holds {data['dataset']}, not {a.dataset}")
    model, summary = train(
        data=data,
        dataset=a.dataset,
        defense=a.defense,
        hparams=hp,
        steps=a.steps,
        batch_size=a.batch_size,
        optimizer=a.optimizer,
        lr=a.lr,
        schedule=a.schedule,
        smoothing=a.smoothing,
        seed=a.seed,
        device=a.device,
        precision=a.precision,
        network=a.network,
        normalization=a.normalization,
        ckpt_path=a.ckpt,
        ckpt_every=a.ckpt_every,
        log_path=a.log_csv,
        progress_every=a.progress_every,
        name=a.name,
        stop_after=a.stop_after,
        merge_clean=a.merge_clean,
        channels_last=a.channels_last,
        compile_mode=a.compile,
        log_every=a.log_every,
        snapshots=tuple(a.snapshots),
        snapshot_dir=a.snapshot_dir,
    )
    if summary["steps_done"] < a.steps:
        print(f"[{a.name}] stopped after step {summary['steps_done']}; checkpoint kept at {a.ckpt}", file=sys.stderr)
        return 3
    rows = summary.pop("log_rows")
    if a.log_csv:
        write_log(a.log_csv, rows)
    save_model(model, a.out)
    values = {**summary.pop("values"), "name": a.name}
    _sidecars([a.out], a, t0, values=values, seed=a.seed, inputs=[a.data], extra={"train": summary})
    if a.ckpt:
        cleanup_checkpoint(a.ckpt)


# ---- evaluation


def _evaluate_opts(p):
    _eval_opts(p)
    _attack_opts(p)
    p.add_argument(
        "--adv",
        default=None,
        help="the examples `craft` already made with this attack on this model (a transfer substitute's): "
        "the accuracy on them, instead of attacking again",
    )
    p.add_argument("--out", required=True, help="JSON row")


@command("evaluate", "accuracy of a model under one attack", _evaluate_opts)
def cmd_evaluate(a):
    from .evaluate import evaluate
    from .provenance import write_json_atomic

    t0 = time.time()
    model, x, y = _load_eval(a)
    params = _attack_params(a)
    x_adv = _crafted(a, params, y) if a.adv else None
    row = evaluate(model, x, y, a.attack, params, a.batch_size, x_adv=x_adv)
    row.update(model=a.name, attack_name=a.attack_name or a.attack, seed=a.seed, dataset=a.dataset)
    row["seconds"] = round(time.time() - t0, 2)
    write_json_atomic(a.out, row)
    _sidecars([a.out], a, t0, seed=a.seed, inputs=[a.model, a.data] + ([a.adv] if a.adv else []))
    print(
        f"{a.name} under {row['attack_name']} {params}: accuracy {row['accuracy']:.4f} (n={row['n']})", file=sys.stderr
    )


def _crafted(a, params: dict, y):
    """x_adv of a file written by ``craft`` for this very evaluation: the same model, attack,
    parameters and test images (labels), else a one-line error naming what differs."""
    import json

    from .serialization import safe_load

    blob = safe_load(a.adv, map_location=y.device)
    want = {"substitute": a.name, "attack": a.attack_name or a.attack, "params": params}
    have = {k: json.loads(blob[k]) if k == "params" else blob.get(k) for k in want}
    for k in want:
        if have[k] != want[k]:
            raise ConfigError(f"--adv {a.adv}: crafted with {k} {have[k]!r}, this evaluation needs {want[k]!r}")
    if blob["y"].shape != y.shape or not bool((blob["y"] == y).all()):
        n = blob["y"].shape[0]
        raise ConfigError(f"--adv {a.adv}: its {n} labels are not those of the first {y.shape[0]} test images")
    return blob["x_adv"].to(y.device)


def _craft_opts(p):
    _eval_opts(p)
    _attack_opts(p)
    p.add_argument("--out", required=True, help="tensor file of x_adv and y")


@command("craft", "craft adversarial test examples on a substitute (transfer)", _craft_opts)
def cmd_craft(a):
    from .evaluate import craft

    t0 = time.time()
    model, x, y = _load_eval(a)
    params = _attack_params(a)
    acc = craft(model, x, y, a.attack, params, a.batch_size, a.out, substitute=a.name, attack_name=a.attack_name)
    _sidecars([a.out], a, t0, seed=a.seed, inputs=[a.model, a.data], extra={"whitebox_accuracy": acc})
    print(
        f"crafted {x.shape[0]} examples on {a.name} ({a.attack} {params}); white-box accuracy {acc:.4f}",
        file=sys.stderr,
    )


def _transfer_opts(p):
    p.add_argument("--name", required=True, help="target model name")
    p.add_argument("--model", required=True)
    _net_opts(p)
    p.add_argument("--adv", nargs="+", required=True, help="files written by craft (one per substitute)")
    p.add_argument("--batch-size", type=_positive_int, default=1000)
    p.add_argument("--out", required=True)
    _run_opts(p)


@command("evaluate-transfer", "accuracy of a target model on crafted examples", _transfer_opts)
def cmd_evaluate_transfer(a):
    from .evaluate import evaluate_transfer
    from .provenance import write_json_atomic
    from .train import resolve_device

    t0 = time.time()
    rows = evaluate_transfer(
        a.model,
        a.adv,
        a.network,
        a.normalization,
        resolve_device(a.device),
        a.batch_size,
        name=a.name,
        channels_last=a.channels_last,
    )
    for r in rows:
        r.update(seed=a.seed, dataset=a.dataset)
        print(f"{a.name} on examples from {r['substitute']}: accuracy {r['accuracy']:.4f}", file=sys.stderr)
    write_json_atomic(a.out, rows)
    _sidecars([a.out], a, t0, seed=a.seed, inputs=[a.model, *a.adv])


def _sweep_opts(p):
    from .attacks import ATTACKS

    _eval_opts(p)
    p.add_argument("--sweep-name", required=True, help="the sweep's name in the config")
    p.add_argument("--attack", required=True, choices=[n for n, d in ATTACKS.items() if "eps" in d.names()])
    p.add_argument("--eps-list", type=_unit, nargs="+", required=True, help="eps values in [0, 1]; 0 is clean")
    p.add_argument("--k", type=_positive_int, default=None, help="steps of ifgsm/pgd")
    p.add_argument("--restarts", type=_positive_int, default=None, help="pgd restarts")
    p.add_argument("--attack-seed", type=int, default=None, help="seed of pgd random starts")
    p.add_argument("--out", required=True, help="JSON rows, one per eps")


@command("eps-sweep", "accuracy of a model under one attack at each eps of a list", _sweep_opts)
def cmd_eps_sweep(a):
    from .evaluate import eps_sweep
    from .provenance import write_json_atomic

    t0 = time.time()
    model, x, y = _load_eval(a)
    fixed = {"k": a.k, "restarts": a.restarts, "seed": a.attack_seed}
    rows = eps_sweep(model, x, y, a.attack, a.eps_list, {k: v for k, v in fixed.items() if v is not None}, a.batch_size)
    for row in rows:
        row.update(model=a.name, sweep=a.sweep_name, seed=a.seed, dataset=a.dataset)
        print(
            f"{a.name} {a.sweep_name} eps {row['eps']:g}: accuracy {row['accuracy']:.4f} (n={row['n']})",
            file=sys.stderr,
        )
    write_json_atomic(a.out, rows)
    _sidecars([a.out], a, t0, seed=a.seed, inputs=[a.model, a.data])


# ---- loss surfaces


def _surface_opts(p):
    from .attacks import ATTACKS

    p.add_argument("--name", required=True)
    p.add_argument("--model", required=True)
    _net_opts(p)
    p.add_argument("--data", required=True)
    p.add_argument("--attack", required=True, choices=[n for n, d in ATTACKS.items() if d.extra.get("direction")])
    p.add_argument("--eps", type=_eps, required=True)
    p.add_argument("--k", type=_positive_int, default=None)
    p.add_argument("--n", type=_positive_int, default=128, help="minibatch size (paper: 128)")
    p.add_argument("--t-max", type=float, default=0.4)
    p.add_argument("--points", type=_positive_int, default=21)
    p.add_argument("--no-clip", action="store_true", help="do not clip perturbed images to [0,1]")
    p.add_argument("--out", required=True, help=".npz with t and surface")
    _run_opts(p)


@command("surface", "loss surface of section 3.4 for one model and attack", _surface_opts)
def cmd_surface(a):
    from .surface import surface_to_file

    t0 = time.time()
    model, x, y = _load_eval(a)
    surf = surface_to_file(model, x, y, a.attack, a.eps, a.k, a.t_max, a.points, a.seed, not a.no_clip, a.out)
    _sidecars([a.out], a, t0, seed=a.seed, inputs=[a.model, a.data])
    print(
        f"surface of {a.name} under {a.attack}: min {float(surf.min()):.2f} max {float(surf.max()):.2f}",
        file=sys.stderr,
    )


def _plot_opts(p):
    p.add_argument("--inputs", nargs="+", required=True)
    p.add_argument("--labels", nargs="+", required=True)
    p.add_argument("--title", default="")
    p.add_argument("--out", nargs="+", required=True, help="figure files (.pdf, .png)")


@command("plot-surface", "draw loss surfaces side by side (3-D, matplotlib)", _plot_opts)
def cmd_plot_surface(a):
    from .plots import plot_surfaces

    t0 = time.time()
    if len(a.inputs) != len(a.labels):
        raise ConfigError(f"{len(a.inputs)} inputs but {len(a.labels)} labels; give one label per input")
    plot_surfaces(a.inputs, a.labels, a.title, a.out)
    _sidecars(a.out, a, t0, inputs=a.inputs)


# ---- tables


def _table_opts(p):
    p.add_argument("--spec", required=True, help="table spec as JSON")
    p.add_argument("--rows", nargs="+", required=True, help="JSON result rows")
    _table_outs(p)


@command("table", "render a table (CSV, LaTeX, HTML) beside the paper's values", _table_opts)
def cmd_table(a):
    from .tables import load_rows, render, tidy_table

    t0 = time.time()
    spec = _json_arg(a.spec)
    tidy = tidy_table(load_rows(a.rows), spec)
    render(tidy, spec, a.out_csv, a.out_tex, a.out_html)
    extra = {"config": spec.get("config", {}), "config_hash_of_study": spec.get("config_hash")}
    _sidecars([a.out_csv, a.out_tex, a.out_html], a, t0, values={"spec": spec}, inputs=a.rows, extra=extra)
    worst = tidy.dropna(subset=["diff"])
    msg = f", mean |diff| to the paper {worst['diff'].abs().mean():.4f}" if len(worst) else ""
    print(f"table {spec['name']}: {len(tidy)} cells{msg}", file=sys.stderr)


def _cost_opts(p):
    p.add_argument("--models", nargs="+", required=True, help="model files (their .meta.json are read)")
    p.add_argument("--spec", default="{}", help="JSON: note, reference model names")
    _table_outs(p)


@command("cost-table", "training cost per step and ratios, from model sidecars", _cost_opts)
def cmd_cost_table(a):
    from .costs import cost_table

    t0 = time.time()
    spec = _json_arg(a.spec)
    cost_table(a.models, spec, a.out_csv, a.out_tex, a.out_html)
    _sidecars([a.out_csv, a.out_tex, a.out_html], a, t0, values={"spec": spec}, inputs=a.models)


# ---- scientific checks (e2sad/science)


def _ablation_opts(p):
    p.add_argument("--spec", required=True, help="JSON: variants {variant: model}, attacks, paper_model, ...")
    p.add_argument("--rows", nargs="+", required=True, help="JSON result rows of the variants")
    p.add_argument("--models", nargs="+", required=True, help="the variants' model files (sidecars are read)")
    _table_outs(p)


@command("ablation-table", "second-step ablation of e2SAD beside the paper's e2SAD column", _ablation_opts)
def cmd_ablation_table(a):
    from .science import ablation_table, load_json_rows, read_g2, render_ablation

    t0 = time.time()
    spec = _json_arg(a.spec)
    tidy, verdict = ablation_table(load_json_rows(a.rows), read_g2(a.models), spec)
    render_ablation(tidy, verdict, spec, a.out_csv, a.out_tex, a.out_html)
    outs = [a.out_csv, a.out_tex, a.out_html]
    _sidecars(outs, a, t0, values={"spec": spec}, inputs=a.rows + a.models, extra={"verdict": verdict})
    print(f"ablation: {verdict['text']}", file=sys.stderr)


def _robustness_opts(p):
    p.add_argument("--spec", required=True, help="JSON: models, reference, attacks, flag_drop, ...")
    p.add_argument("--rows", nargs="+", required=True, help="JSON result rows")
    _table_outs(p)


@command("robustness-table", "paper's attack beside the strongest attack found, per model", _robustness_opts)
def cmd_robustness_table(a):
    from .science import load_json_rows, render_robustness, robustness_table

    t0 = time.time()
    spec = _json_arg(a.spec)
    df = robustness_table(load_json_rows(a.rows), spec)
    render_robustness(df, spec, a.out_csv, a.out_tex, a.out_html)
    _sidecars([a.out_csv, a.out_tex, a.out_html], a, t0, values={"spec": spec}, inputs=a.rows)
    for r in df.itertuples():
        flag = f"  FLAG {r.flag}" if r.flag else ""
        msg = f"{r.model}: {r.reference} {r.reference_acc:.4f}, strongest {r.strongest} {r.strongest_acc:.4f}{flag}"
        print(msg, file=sys.stderr)


def _frontier_opts(p):
    p.add_argument("--spec", required=True, help="JSON: cells, attacks, model_info, robust, budget, ...")
    p.add_argument("--rows", nargs="+", required=True, help="JSON result rows (evaluate)")
    p.add_argument("--models", nargs="+", required=True, help="trained model files (their sidecars give step times)")
    p.add_argument("--snapshots", default=None, help="snapshots.csv (robustness along training), for its statement")
    _table_outs(p)
    p.add_argument("--out-fig", nargs="+", required=True, help="figure files (.pdf, .png)")


@command("frontier-table", "cost-robustness frontier: table, figure and checked statements", _frontier_opts)
def cmd_frontier_table(a):
    import pandas as pd

    from .costs import cost_rows
    from .science import frontier_statements, frontier_table, load_json_rows, plot_frontier, render_frontier

    t0 = time.time()
    spec = _json_arg(a.spec)
    df = frontier_table(load_json_rows(a.rows), cost_rows(a.models), spec)
    snaps = pd.read_csv(a.snapshots) if a.snapshots else None
    st = frontier_statements(df, spec, snaps)
    render_frontier(df, st, spec, a.out_csv, a.out_tex, a.out_html)
    plot_frontier(df, spec, a.out_fig)
    inputs = a.rows + a.models + ([a.snapshots] if a.snapshots else [])
    _sidecars([a.out_csv, a.out_tex, a.out_html, *a.out_fig], a, t0, values={"spec": spec}, inputs=inputs)
    for r in st.itertuples():
        print(f"{r.verdict}: {r.statement}: {r.numbers}", file=sys.stderr)


def _snapshot_opts(p):
    p.add_argument("--spec", required=True, help="JSON: models, attacks, single_step, iterative, overfit_drop, ...")
    p.add_argument("--rows", nargs="+", required=True, help="JSON rows of the snapshots (evaluate)")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-html", required=True)
    p.add_argument("--out-fig", nargs="+", required=True, help="figure files (.pdf, .png)")


@command("frontier-snapshots", "robustness along training and catastrophic overfitting", _snapshot_opts)
def cmd_frontier_snapshots(a):
    from .science import catastrophic_overfitting, load_json_rows, plot_snapshots, render_snapshots, snapshot_frame

    t0 = time.time()
    spec = _json_arg(a.spec)
    frame = snapshot_frame(load_json_rows(a.rows))
    flags = catastrophic_overfitting(frame, spec["single_step"], spec["iterative"], spec["overfit_drop"])
    render_snapshots(frame, flags, spec, a.out_csv, a.out_html)
    plot_snapshots(frame, flags, spec, a.out_fig)
    _sidecars([a.out_csv, a.out_html, *a.out_fig], a, t0, values={"spec": spec}, inputs=a.rows)
    for r in flags.itertuples():
        print(f"FLAG catastrophic overfitting: {r.model} steps {r.step_before} -> {r.step}", file=sys.stderr)


def _sanity_opts(p):
    p.add_argument("--spec", required=True, help="JSON: models, attacks, transfer_attacks, ...")
    p.add_argument("--sweeps", nargs="+", required=True, help="rows written by eps-sweep")
    p.add_argument("--whitebox", nargs="*", default=[], help="rows written by evaluate")
    p.add_argument("--transfer", nargs="*", default=[], help="rows written by evaluate-transfer")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-html", required=True)
    p.add_argument("--out-fig", nargs="+", required=True, help="eps-sweep figure files (.pdf, .png)")


@command("sanity-report", "PASS/FLAG sanity checks of the evaluation, and the eps-sweep figure", _sanity_opts)
def cmd_sanity_report(a):
    from .science import sanity_report

    t0 = time.time()
    spec = _json_arg(a.spec)
    checks = sanity_report(a.sweeps, a.whitebox, a.transfer, spec, a.out_csv, a.out_html, a.out_fig)
    inputs = a.sweeps + a.whitebox + a.transfer
    _sidecars([a.out_csv, a.out_html, *a.out_fig], a, t0, values={"spec": spec}, inputs=inputs)
    flags = checks[checks["verdict"] == "FLAG"]
    print(f"sanity: {len(checks) - len(flags)} checks not flagged, {len(flags)} FLAG", file=sys.stderr)
    for r in flags.itertuples():
        print(f"  FLAG {r.model}: {r.check}: {r.evidence}", file=sys.stderr)


def _statements_opts(p):
    p.add_argument("--table", required=True, help="Table 3.1 CSV (e2sad table)")
    p.add_argument("--cost", required=True, help="training-cost CSV (e2sad cost-table)")
    p.add_argument("--spec", default="{}", help="JSON: attacks {name: {kind, eps}}, note")
    p.add_argument("--out-html", required=True)
    p.add_argument("--out-md", required=True)
    p.add_argument("--out-csv", default=None)


@command("statements", "the paper's claims on Table 3.1 and training cost, PASS/FAIL", _statements_opts)
def cmd_statements(a):
    from .science import check_statements, render_statements

    t0 = time.time()
    spec = _json_arg(a.spec)
    df = check_statements(a.table, a.cost, spec.get("attacks"))
    render_statements(df, spec, a.out_html, a.out_md, a.out_csv)
    _sidecars([a.out_html, a.out_md, a.out_csv], a, t0, values={"spec": spec}, inputs=[a.table, a.cost])
    for r in df.itertuples():
        print(f"{r.verdict}: {r.statement} -- {r.evidence}", file=sys.stderr)


# ---- entry point


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line naming it, not a usage dump."""

    def error(self, message):
        self.exit(2, f"e2sad: error: {self.prog}: {message}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line; with ``only``, just that subcommand gets its options.

    Adding a subcommand's options may import its declarations (and so torch);
    building only the one that runs keeps jobs that do not need torch (tables,
    plots) from paying its ~3 s import.
    """
    from .declare import load_plugins

    load_plugins()
    ap = _Parser(prog="python -m e2sad", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="SUBCOMMAND")
    for name, (help_, options, _) in COMMANDS.items():
        p = sub.add_parser(name, help=help_)
        if only is None or name == only:
            options(p)
    return ap


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed memory in the process instead of returning it to the kernel.

    By default a tensor of more than ~128 KiB-32 MiB is an ``mmap`` of fresh pages, freed with
    ``munmap``, and the heap's free top is trimmed: each new activation of a pass (conv1's output
    at batch 64 is 6.4 MB) then page-faults on first touch, the kernel zeroing every page.
    Measured on this 2-core CPU (IFGSM-30 evaluation of 500 MNIST images, one thread): 460,000-
    530,000 page faults and 1.8-1.9 s of system time per job, 153,000 and 0.8 s (the imports'
    share) with the thresholds set (bench/README.md, "Allocator").  Values are unchanged; the
    process keeps its peak memory until it exits.  False where ``mallopt`` is absent (not glibc).
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    # 32 MiB: glibc's maximum mmap threshold on 64-bit; a larger request still gets its own mmap
    ok = mallopt(m_mmap_threshold, 32 << 20) and mallopt(m_trim_threshold, 1 << 30)
    return bool(ok)


def main(argv=None) -> int:
    try:
        keep_freed_memory()
        argv = sys.argv[1:] if argv is None else list(argv)
        first = next((t for t in argv if not t.startswith("-")), None)
        ap = build_parser(first if first in COMMANDS else None)
        args = ap.parse_args(argv)
        if getattr(args, "threads", None):
            import torch

            torch.set_num_threads(args.threads)
        return COMMANDS[args.cmd][2](args) or 0
    except E2sadError as exc:
        print(f"e2sad: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("e2sad: interrupted", file=sys.stderr)
        return 130
