"""Command line: ``python -m e2sad <subcommand> ...``; the workflow's rules call this.

Every input, output and hyperparameter is an explicit option.  Outputs are
written atomically with a ``.meta.json`` provenance sidecar.  Bad input gives
one line, ``e2sad: error: ...``, naming the file or value, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from .errors import ConfigError, E2sadError


def _positive_int(s: str) -> int:
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{s} is not allowed, must be an integer >= 1")
    return v


def _eps(s: str) -> float:
    v = _frac(s)
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"eps {s} is not allowed, must be in (0, 1]")
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


def _common_run(p):
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--threads", type=_positive_int, default=None, help="torch intra-op threads")
    p.add_argument("--seed", type=int, default=0)


def _attack_opts(p):
    p.add_argument("--attack", required=True, help="none, fgsm, ifgsm, pgd, apgd_ce, apgd_t")
    p.add_argument("--eps", type=_eps, default=None, help="l-inf budget in [0,1] pixel units (e.g. 0.3 or 24/255)")
    p.add_argument("--k", type=_positive_int, default=None, help="steps of ifgsm/pgd")
    p.add_argument("--step", type=_frac, default=None, help="pgd step size (default 2.5 eps/k)")
    p.add_argument("--restarts", type=_positive_int, default=None, help="pgd/apgd restarts")
    p.add_argument("--steps", type=_positive_int, default=None, help="apgd iterations")
    p.add_argument("--attack-seed", type=int, default=None, help="seed of random starts")


def _attack_params(a) -> dict:
    params = {"eps": a.eps, "k": a.k, "step": a.step, "restarts": a.restarts, "steps": a.steps, "seed": a.attack_seed}
    return {k: v for k, v in params.items() if v is not None}


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line naming it, not a usage dump."""

    def error(self, message):
        self.exit(2, f"e2sad: error: {self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m e2sad", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="SUBCOMMAND")

    p = sub.add_parser("prepare-data", help="convert MNIST IDX / SVHN .mat files to one tensor file")
    p.add_argument("--dataset", required=True, choices=["mnist", "svhn"])
    p.add_argument("--src", required=True, help="folder with the original files")
    p.add_argument("--download", action="store_true", help="download with torchvision if missing")
    p.add_argument("--out", required=True)

    p = sub.add_parser("train", help="train one model with one defense")
    p.add_argument("--name", default="model", help="model name, for logs")
    p.add_argument("--dataset", required=True, choices=["mnist", "svhn"])
    p.add_argument("--data", required=True, help="prepared tensor file")
    p.add_argument("--defense", required=True, help="natural, fgsm_at, ifgsm_at, e2sad, hamm")
    p.add_argument("--alpha", type=_unit, default=None, help="weight of the clean loss, eq. 2.6/3.3")
    p.add_argument("--eps", type=_eps, default=None, help="attack budget of fgsm_at/ifgsm_at/hamm")
    p.add_argument("--k", type=_positive_int, default=None, help="IFGSM steps of ifgsm_at")
    p.add_argument("--lam", type=_unit, default=None, help="e2SAD weight of the dissimilarity term")
    p.add_argument("--eps1", type=_eps, default=None, help="e2SAD first-step size")
    p.add_argument("--eps2", type=_eps, default=None, help="e2SAD second-step size")
    p.add_argument("--second-step", default=None, help="literal, entropy, random_start, clean_target")
    p.add_argument("--clip-second", default=None, help="range, ball, none")
    p.add_argument("--sigma", type=float, default=None, help="random_start noise scale")
    p.add_argument("--norm", default=None, help="hamm gradient norm: l1 or l2")
    p.add_argument("--smoothing", type=_smoothing, default=None, help="correct-class probability, or none")
    p.add_argument("--steps", type=_positive_int, required=True, help="training iterations")
    p.add_argument("--batch-size", type=_positive_int, required=True)
    p.add_argument("--optimizer", default="adam", help="adam or sgd")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--precision", default="fp32", help="fp32, bf16, tf32")
    p.add_argument(
        "--merge-clean",
        action="store_true",
        help="one backward gives the clean loss's parameter grads and the first attack gradient",
    )
    p.add_argument("--svhn-normalization", default="per_image_std")
    p.add_argument("--ckpt", default=None, help="checkpoint path (kept outside the outputs)")
    p.add_argument("--ckpt-every", type=_positive_int, default=500)
    p.add_argument("--progress-every", type=int, default=50)
    p.add_argument("--log-csv", default=None, help="per-step log output")
    p.add_argument("--stop-after", type=_positive_int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", required=True, help="model state_dict output (.pt)")
    _common_run(p)

    p = sub.add_parser("evaluate", help="accuracy of a model under one attack")
    p.add_argument("--name", required=True, help="model name written in the row")
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True, choices=["mnist", "svhn"])
    p.add_argument("--svhn-normalization", default="per_image_std")
    p.add_argument("--data", required=True)
    p.add_argument("--attack-name", default=None, help="the attack's name in the config")
    _attack_opts(p)
    p.add_argument("--n", type=_positive_int, default=None, help="first n test images (default all)")
    p.add_argument("--batch-size", type=_positive_int, default=500)
    p.add_argument("--out", required=True, help="JSON row")
    _common_run(p)

    p = sub.add_parser("craft", help="craft adversarial test examples on a substitute (transfer)")
    p.add_argument("--name", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True, choices=["mnist", "svhn"])
    p.add_argument("--svhn-normalization", default="per_image_std")
    p.add_argument("--data", required=True)
    p.add_argument("--attack-name", default=None)
    _attack_opts(p)
    p.add_argument("--n", type=_positive_int, default=None)
    p.add_argument("--batch-size", type=_positive_int, default=500)
    p.add_argument("--out", required=True, help="tensor file of x_adv and y")
    _common_run(p)

    p = sub.add_parser("evaluate-transfer", help="accuracy of a target model on crafted examples")
    p.add_argument("--name", required=True, help="target model name")
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True, choices=["mnist", "svhn"])
    p.add_argument("--svhn-normalization", default="per_image_std")
    p.add_argument("--adv", nargs="+", required=True, help="files written by craft (one per substitute)")
    p.add_argument("--batch-size", type=_positive_int, default=1000)
    p.add_argument("--out", required=True)
    _common_run(p)

    p = sub.add_parser("surface", help="loss surface of section 3.4 for one model and attack")
    p.add_argument("--name", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True, choices=["mnist", "svhn"])
    p.add_argument("--svhn-normalization", default="per_image_std")
    p.add_argument("--data", required=True)
    p.add_argument("--attack", required=True, choices=["fgsm", "ifgsm"])
    p.add_argument("--eps", type=_eps, required=True)
    p.add_argument("--k", type=_positive_int, default=None)
    p.add_argument("--n", type=_positive_int, default=128, help="minibatch size (paper: 128)")
    p.add_argument("--t-max", type=float, default=0.4)
    p.add_argument("--points", type=_positive_int, default=21)
    p.add_argument("--no-clip", action="store_true", help="do not clip perturbed images to [0,1]")
    p.add_argument("--out", required=True, help=".npz with t and surface")
    _common_run(p)

    p = sub.add_parser("plot-surface", help="draw loss surfaces side by side (3-D, matplotlib)")
    p.add_argument("--inputs", nargs="+", required=True)
    p.add_argument("--labels", nargs="+", required=True)
    p.add_argument("--title", default="")
    p.add_argument("--out", nargs="+", required=True, help="figure files (.pdf, .png)")

    p = sub.add_parser("table", help="render a table (CSV, LaTeX, HTML) beside the paper's values")
    p.add_argument("--spec", required=True, help="table spec as JSON")
    p.add_argument("--rows", nargs="+", required=True, help="JSON result rows")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-tex", required=True)
    p.add_argument("--out-html", required=True)

    p = sub.add_parser("cost-table", help="training cost per step and ratios, from model sidecars")
    p.add_argument("--models", nargs="+", required=True, help="model files (their .meta.json are read)")
    p.add_argument("--spec", default="{}", help="JSON: note, reference model names")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-tex", required=True)
    p.add_argument("--out-html", required=True)
    _science_parsers(sub)
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        if getattr(args, "threads", None):
            import torch

            torch.set_num_threads(args.threads)
        return COMMANDS[args.cmd](args) or 0
    except E2sadError as exc:
        print(f"e2sad: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("e2sad: interrupted", file=sys.stderr)
        return 130


def _values(args, drop=("func",)) -> dict:
    return {k: v for k, v in vars(args).items() if k not in drop and k != "stop_after"}


def cmd_prepare(a):
    from .data import prepare
    from .provenance import write_sidecar

    t0 = time.time()
    shapes = prepare(a.dataset, a.src, a.out, a.download)
    write_sidecar(a.out, values=_values(a), started=t0, extra={"shapes": shapes})
    print(f"prepared {a.dataset}: " + ", ".join(f"{k} {tuple(v)}" for k, v in shapes.items()), file=sys.stderr)


def cmd_train(a):
    from .data import load_prepared
    from .defenses import get_defense
    from .provenance import write_sidecar
    from .train import cleanup_checkpoint, resolve_device, save_model, train, write_log

    t0 = time.time()
    _, allowed = get_defense(a.defense)
    hp = {
        k: getattr(a, k)
        for k in ("alpha", "eps", "k", "lam", "eps1", "eps2", "second_step", "clip_second", "sigma", "norm")
        if getattr(a, k) is not None
    }
    extra = sorted(set(hp) - set(allowed))
    if extra:
        raise ConfigError(
            f"defense '{a.defense}' takes no option(s) {['--' + e.replace('_', '-') for e in extra]};"
            f" it takes {['--' + x.replace('_', '-') for x in allowed]}"
        )
    required = {
        "fgsm_at": ("alpha", "eps"),
        "ifgsm_at": ("alpha", "eps", "k"),
        "e2sad": ("alpha", "lam", "eps1", "eps2"),
        "hamm": ("alpha", "eps"),
    }.get(a.defense, ())
    missing = [r for r in required if r not in hp]
    if missing:
        raise ConfigError(f"defense '{a.defense}' needs {['--' + m for m in missing]}")
    dev = resolve_device(a.device)
    data = load_prepared(a.data, dev)
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
        smoothing=a.smoothing,
        seed=a.seed,
        device=a.device,
        precision=a.precision,
        svhn_normalization=a.svhn_normalization,
        ckpt_path=a.ckpt,
        ckpt_every=a.ckpt_every,
        log_path=a.log_csv,
        progress_every=a.progress_every,
        name=a.name,
        stop_after=a.stop_after,
        merge_clean=a.merge_clean,
    )
    if summary["steps_done"] < a.steps:
        print(f"[{a.name}] stopped after step {summary['steps_done']}; checkpoint kept at {a.ckpt}", file=sys.stderr)
        return 3
    rows = summary.pop("log_rows")
    if a.log_csv:
        write_log(a.log_csv, rows)
    save_model(model, a.out)
    g2 = [float(r["g2_over_g1"]) for r in rows if "g2_over_g1" in r]
    g2abs = [float(r["g2_abs"]) for r in rows if "g2_abs" in r]
    if g2:
        summary["second_step_g2_abs_mean"] = sum(g2abs) / len(g2abs)
        summary["second_step_g2_over_g1_mean"] = sum(g2) / len(g2)
    summary["final_terms"] = {k: v for k, v in rows[-1].items() if k not in ("step", "epoch")} if rows else {}
    write_sidecar(
        a.out,
        values={**summary.pop("values"), "name": a.name},
        seed=a.seed,
        started=t0,
        inputs=[a.data],
        extra={"train": summary},
    )
    if a.ckpt:
        cleanup_checkpoint(a.ckpt)


def _load_eval(a):
    from .data import load_prepared
    from .train import load_model, resolve_device

    dev = resolve_device(a.device)
    data = load_prepared(a.data, dev)
    if data["dataset"] != a.dataset:
        raise ConfigError(f"{a.data} holds {data['dataset']}, not {a.dataset}")
    model = load_model(a.model, a.dataset, a.svhn_normalization, dev)
    n = a.n or data["x_test"].shape[0]
    return model, data["x_test"][:n], data["y_test"][:n]


def cmd_evaluate(a):
    from .evaluate import evaluate
    from .provenance import write_json_atomic, write_sidecar

    t0 = time.time()
    model, x, y = _load_eval(a)
    params = _attack_params(a)
    row = evaluate(model, x, y, a.attack, params, a.batch_size)
    row.update(
        model=a.name,
        attack_name=a.attack_name or a.attack,
        seed=a.seed,
        dataset=a.dataset,
        seconds=round(time.time() - t0, 2),
    )
    write_json_atomic(a.out, row)
    write_sidecar(a.out, values=_values(a), seed=a.seed, started=t0, inputs=[a.model, a.data])
    print(
        f"{a.name} under {row['attack_name']} {params}: accuracy {row['accuracy']:.4f} (n={row['n']})", file=sys.stderr
    )


def cmd_craft(a):
    import torch

    from .attacks import run_attack
    from .provenance import atomic_path, write_sidecar

    t0 = time.time()
    model, x, y = _load_eval(a)
    params = _attack_params(a)
    x_adv = run_attack(model, x, y, a.attack, params, a.batch_size)
    with torch.no_grad():
        acc = float((model(x_adv).argmax(1) == y).float().mean())
    with atomic_path(a.out) as tmp:
        torch.save(
            {
                "x_adv": x_adv.cpu(),
                "y": y.cpu(),
                "substitute": a.name,
                "attack": a.attack_name or a.attack,
                "params": json.dumps(params),
            },
            tmp,
        )
    write_sidecar(
        a.out, values=_values(a), seed=a.seed, started=t0, inputs=[a.model, a.data], extra={"whitebox_accuracy": acc}
    )
    print(
        f"crafted {x_adv.shape[0]} examples on {a.name} ({a.attack} {params}); white-box accuracy {acc:.4f}",
        file=sys.stderr,
    )


def cmd_evaluate_transfer(a):
    from .evaluate import accuracy
    from .provenance import write_json_atomic, write_sidecar
    from .serialization import safe_load
    from .train import load_model, resolve_device

    t0 = time.time()
    dev = resolve_device(a.device)
    model = load_model(a.model, a.dataset, a.svhn_normalization, dev)
    rows = []
    for path in a.adv:
        blob = safe_load(path, map_location=dev)
        acc = accuracy(model, blob["x_adv"], blob["y"], a.batch_size)
        rows.append(
            {
                "model": a.name,
                "substitute": blob["substitute"],
                "attack_name": blob["attack"],
                "params": json.loads(blob["params"]),
                "n": int(blob["y"].shape[0]),
                "accuracy": acc,
                "seed": a.seed,
                "dataset": a.dataset,
            }
        )
        print(f"{a.name} on examples from {blob['substitute']}: accuracy {acc:.4f}", file=sys.stderr)
    write_json_atomic(a.out, rows)
    write_sidecar(a.out, values=_values(a), seed=a.seed, started=t0, inputs=[a.model, *a.adv])


def cmd_surface(a):
    import numpy as np

    from .provenance import atomic_path, write_sidecar
    from .surface import loss_surface

    t0 = time.time()
    model, x, y = _load_eval(a)
    params = {"eps": a.eps} if a.attack == "fgsm" else {"eps": a.eps, "k": a.k or 10}
    t, surf, _, _ = loss_surface(
        model,
        x,
        y,
        attack=a.attack,
        attack_params=params,
        t_max=a.t_max,
        points=a.points,
        seed=a.seed,
        clip=not a.no_clip,
    )
    with atomic_path(a.out) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, t=t.numpy(), surface=surf.numpy())
    write_sidecar(a.out, values=_values(a), seed=a.seed, started=t0, inputs=[a.model, a.data])
    print(
        f"surface of {a.name} under {a.attack}: min {float(surf.min()):.2f} max {float(surf.max()):.2f}",
        file=sys.stderr,
    )


def cmd_plot_surface(a):
    from .plots import plot_surfaces
    from .provenance import write_sidecar

    t0 = time.time()
    if len(a.inputs) != len(a.labels):
        raise ConfigError(f"{len(a.inputs)} inputs but {len(a.labels)} labels; give one label per input")
    plot_surfaces(a.inputs, a.labels, a.title, a.out)
    for o in a.out:
        write_sidecar(o, values=_values(a), started=t0, inputs=a.inputs)


def cmd_table(a):
    from .provenance import write_sidecar
    from .tables import load_rows, render, tidy_table

    t0 = time.time()
    try:
        spec = json.loads(a.spec)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--spec is not valid JSON ({exc})") from None
    tidy = tidy_table(load_rows(a.rows), spec)
    render(tidy, spec, a.out_csv, a.out_tex, a.out_html)
    for o in (a.out_csv, a.out_tex, a.out_html):
        write_sidecar(
            o,
            values={"spec": spec},
            started=t0,
            inputs=a.rows,
            extra={"config": spec.get("config", {}), "config_hash_of_study": spec.get("config_hash")},
        )
    worst = tidy.dropna(subset=["diff"])
    msg = f", mean |diff| to the paper {worst['diff'].abs().mean():.4f}" if len(worst) else ""
    print(f"table {spec['name']}: {len(tidy)} cells{msg}", file=sys.stderr)


def cmd_cost_table(a):
    from .costs import cost_table
    from .provenance import write_sidecar

    t0 = time.time()
    spec = json.loads(a.spec)
    cost_table(a.models, spec, a.out_csv, a.out_tex, a.out_html)
    for o in (a.out_csv, a.out_tex, a.out_html):
        write_sidecar(o, values={"spec": spec}, started=t0, inputs=a.models)


COMMANDS = {
    "prepare-data": cmd_prepare,
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "craft": cmd_craft,
    "evaluate-transfer": cmd_evaluate_transfer,
    "surface": cmd_surface,
    "plot-surface": cmd_plot_surface,
    "table": cmd_table,
    "cost-table": cmd_cost_table,
}


# --------------------------------------------------------------------------- #
# Scientific-validity subcommands (workflow/rules/science.smk; e2sad/science.py)
# --------------------------------------------------------------------------- #


def _science_parsers(sub):
    p = sub.add_parser("eps-sweep", help="accuracy of a model under one attack at each eps of a list")
    p.add_argument("--name", required=True, help="model name written in the rows")
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True, choices=["mnist", "svhn"])
    p.add_argument("--svhn-normalization", default="per_image_std")
    p.add_argument("--data", required=True)
    p.add_argument("--sweep-name", required=True, help="the sweep's name in the config")
    p.add_argument("--attack", required=True, choices=["fgsm", "ifgsm", "pgd"])
    p.add_argument("--eps-list", type=_unit, nargs="+", required=True, help="eps values in [0, 1]; 0 is clean")
    p.add_argument("--k", type=_positive_int, default=None, help="steps of ifgsm/pgd")
    p.add_argument("--restarts", type=_positive_int, default=None, help="pgd restarts")
    p.add_argument("--attack-seed", type=int, default=None, help="seed of pgd random starts")
    p.add_argument("--n", type=_positive_int, default=None, help="first n test images (default all)")
    p.add_argument("--batch-size", type=_positive_int, default=500)
    p.add_argument("--out", required=True, help="JSON rows, one per eps")
    _common_run(p)

    p = sub.add_parser("ablation-table", help="second-step ablation of e2SAD beside the paper's e2SAD column")
    p.add_argument("--spec", required=True, help="JSON: variants {variant: model}, attacks, paper_model, ...")
    p.add_argument("--rows", nargs="+", required=True, help="JSON result rows of the variants")
    p.add_argument("--models", nargs="+", required=True, help="the variants' model files (sidecars are read)")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-tex", required=True)
    p.add_argument("--out-html", required=True)

    p = sub.add_parser("robustness-table", help="paper's attack beside the strongest attack found, per model")
    p.add_argument("--spec", required=True, help="JSON: models, reference, attacks, flag_drop, ...")
    p.add_argument("--rows", nargs="+", required=True, help="JSON result rows")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-tex", required=True)
    p.add_argument("--out-html", required=True)

    p = sub.add_parser("sanity-report", help="PASS/FLAG sanity checks of the evaluation, and the eps-sweep figure")
    p.add_argument("--spec", required=True, help="JSON: models, attacks, transfer_attacks, ...")
    p.add_argument("--sweeps", nargs="+", required=True, help="rows written by eps-sweep")
    p.add_argument("--whitebox", nargs="*", default=[], help="rows written by evaluate")
    p.add_argument("--transfer", nargs="*", default=[], help="rows written by evaluate-transfer")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-html", required=True)
    p.add_argument("--out-fig", nargs="+", required=True, help="eps-sweep figure files (.pdf, .png)")

    p = sub.add_parser("statements", help="the paper's claims on Table 3.1 and training cost, PASS/FAIL")
    p.add_argument("--table", required=True, help="Table 3.1 CSV (e2sad table)")
    p.add_argument("--cost", required=True, help="training-cost CSV (e2sad cost-table)")
    p.add_argument("--spec", default="{}", help="JSON: attacks {name: {kind, eps}}, note")
    p.add_argument("--out-html", required=True)
    p.add_argument("--out-md", required=True)
    p.add_argument("--out-csv", default=None)


def _json_arg(text: str, what: str = "--spec") -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} is not valid JSON ({exc})") from None


def cmd_eps_sweep(a):
    from .evaluate import evaluate
    from .provenance import write_json_atomic, write_sidecar

    t0 = time.time()
    model, x, y = _load_eval(a)
    rows = []
    for eps in sorted(set(a.eps_list)):
        if eps == 0:
            attack, params = "none", {}
        else:
            params = {"eps": eps}
            if a.attack in ("ifgsm", "pgd"):
                params["k"] = a.k or 20
            if a.attack == "pgd":
                params["restarts"] = a.restarts or 1
                params["seed"] = a.attack_seed if a.attack_seed is not None else 0
            attack = a.attack
        row = evaluate(model, x, y, attack, params, a.batch_size)
        row.update(model=a.name, sweep=a.sweep_name, kind=a.attack, eps=eps, seed=a.seed, dataset=a.dataset)
        rows.append(row)
        print(f"{a.name} {a.sweep_name} eps {eps:g}: accuracy {row['accuracy']:.4f} (n={row['n']})", file=sys.stderr)
    write_json_atomic(a.out, rows)
    write_sidecar(a.out, values=_values(a), seed=a.seed, started=t0, inputs=[a.model, a.data])


def cmd_ablation_table(a):
    from .provenance import write_sidecar
    from .science import ablation_table, load_json_rows, read_g2, render_ablation

    t0 = time.time()
    spec = _json_arg(a.spec)
    tidy, verdict = ablation_table(load_json_rows(a.rows), read_g2(a.models), spec)
    render_ablation(tidy, verdict, spec, a.out_csv, a.out_tex, a.out_html)
    for o in (a.out_csv, a.out_tex, a.out_html):
        write_sidecar(o, values={"spec": spec}, started=t0, inputs=a.rows + a.models, extra={"verdict": verdict})
    print(f"ablation: {verdict['text']}", file=sys.stderr)


def cmd_robustness_table(a):
    from .provenance import write_sidecar
    from .science import load_json_rows, render_robustness, robustness_table

    t0 = time.time()
    spec = _json_arg(a.spec)
    df = robustness_table(load_json_rows(a.rows), spec)
    render_robustness(df, spec, a.out_csv, a.out_tex, a.out_html)
    for o in (a.out_csv, a.out_tex, a.out_html):
        write_sidecar(o, values={"spec": spec}, started=t0, inputs=a.rows)
    for r in df.itertuples():
        print(
            f"{r.model}: {r.reference} {r.reference_acc:.4f}, strongest {r.strongest} {r.strongest_acc:.4f}"
            + (f"  FLAG {r.flag}" if r.flag else ""),
            file=sys.stderr,
        )


def cmd_sanity_report(a):
    from .plots import plot_eps_curves
    from .provenance import write_sidecar
    from .science import load_json_rows, render_sanity, sanity_checks, sweep_frame

    t0 = time.time()
    spec = _json_arg(a.spec)
    sweeps = load_json_rows(a.sweeps)
    checks = sanity_checks(sweeps, load_json_rows(a.whitebox), load_json_rows(a.transfer), spec)
    render_sanity(checks, spec, a.out_csv, a.out_html)
    import textwrap

    curves = sweep_frame(sweeps)
    labels = spec.get("sweep_labels", {})
    curves["attack"] = [labels.get(a, a) for a in curves["attack"]]
    title = "Accuracy against eps (mean over seeds)"
    if spec.get("note"):
        title += "\n" + "\n".join(textwrap.wrap(spec["note"], 110))
    plot_eps_curves(curves, a.out_fig, title)
    inputs = a.sweeps + a.whitebox + a.transfer
    for o in (a.out_csv, a.out_html, *a.out_fig):
        write_sidecar(o, values={"spec": spec}, started=t0, inputs=inputs)
    flags = checks[checks["verdict"] == "FLAG"]
    print(f"sanity: {len(checks) - len(flags)} checks not flagged, {len(flags)} FLAG", file=sys.stderr)
    for r in flags.itertuples():
        print(f"  FLAG {r.model}: {r.check}: {r.evidence}", file=sys.stderr)


def cmd_statements(a):
    from .provenance import write_sidecar
    from .science import check_statements, render_statements

    t0 = time.time()
    spec = _json_arg(a.spec)
    df = check_statements(a.table, a.cost, spec.get("attacks"))
    render_statements(df, spec, a.out_html, a.out_md, a.out_csv)
    outs = [o for o in (a.out_html, a.out_md, a.out_csv) if o]
    for o in outs:
        write_sidecar(o, values={"spec": spec}, started=t0, inputs=[a.table, a.cost])
    for r in df.itertuples():
        print(f"{r.verdict}: {r.statement} -- {r.evidence}", file=sys.stderr)


COMMANDS.update(
    {
        "eps-sweep": cmd_eps_sweep,
        "ablation-table": cmd_ablation_table,
        "robustness-table": cmd_robustness_table,
        "sanity-report": cmd_sanity_report,
        "statements": cmd_statements,
    }
)
