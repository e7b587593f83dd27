# Configuration checks (schema, then cross-field checks in e2sad/config.py),
# and the helpers that turn config entries into explicit command-line options.
import json
import os
import re
import shlex
import sys

from snakemake.utils import min_version, validate

min_version("9.19")

sys.path.insert(0, workflow.basedir)
from e2sad.config import check_config  # noqa: E402
from e2sad.errors import ConfigError  # noqa: E402
from e2sad.provenance import config_hash  # noqa: E402

try:
    CONFIG_WARNINGS = check_config(
        config,
        workflow.source_path("../schemas/config.schema.yaml"),
        base_dir=workflow.basedir,
        config_files=workflow.configfiles,
    )
except ConfigError as exc:
    # One line, no traceback, before any job is scheduled (a WorkflowError
    # would add Snakemake's "WorkflowError in file ..." header and a File line).
    print(f"e2sad: error: {exc}", file=sys.stderr)
    sys.exit(1)
for _w in CONFIG_WARNINGS:
    print(f"e2sad: note: {_w}", file=sys.stderr)

validate(config, "../schemas/config.schema.yaml")

R = config["results"]
MODELS = config["models"]
ATTACKS = config["attacks"]
SEEDS = config["seeds"]
COMPUTE = config["compute"]
ACTIVE = [
    d
    for d in config["datasets"]
    if not any(w.startswith(f"{d.upper()} left out") for w in CONFIG_WARNINGS)
]
STUDY_HASH = config_hash(config)


wildcard_constraints:
    model="|".join(re.escape(m) for m in MODELS),
    attack="|".join(re.escape(a) for a in ATTACKS),
    seed=r"\d+",
    dataset="mnist|svhn",


def q(x):
    return shlex.quote(str(x))


def dataset_of(model):
    return MODELS[model]["dataset"]


def data_file(wildcards):
    return f"{R}/data/{dataset_of(wildcards.model)}.pt"


def model_file(model, seed):
    return f"{R}/models/{model}/seed{seed}/model.pt"


HP_KEYS = (
    "alpha",
    "eps",
    "k",
    "lam",
    "eps1",
    "eps2",
    "second_step",
    "clip_second",
    "sigma",
    "norm",
)


def train_args(model):
    """Every hyperparameter of a model's training as explicit options."""
    m = MODELS[model]
    t = config["training"][m["dataset"]]
    args = [
        f"--dataset {m['dataset']}",
        f"--defense {m['defense']}",
        f"--smoothing {m.get('smoothing') or 'none'}",
        f"--steps {t['steps']}",
        f"--batch-size {t['batch_size']}",
        f"--optimizer {t['optimizer']}",
        f"--lr {t['lr']}",
        f"--precision {COMPUTE['precision']}",
        f"--device {COMPUTE['device']}",
    ]
    if m["dataset"] == "svhn":
        args.append(f"--svhn-normalization {config['svhn_normalization']}")
    for k in HP_KEYS:
        if k in m:
            args.append(f"--{k.replace('_', '-')} {m[k]}")
    return " ".join(args)


def attack_args(attack):
    a = ATTACKS[attack]
    args = [f"--attack {a['kind']}"]
    for k in ("eps", "k", "step", "restarts", "steps"):
        if k in a:
            args.append(f"--{k} {a[k]}")
    if "seed" in a:
        args.append(f"--attack-seed {a['seed']}")
    return " ".join(args)


def eval_args(model):
    n = config["evaluation"]["n_test"]
    args = [
        f"--dataset {dataset_of(model)}",
        f"--batch-size {config['evaluation']['batch_size']}",
        f"--device {COMPUTE['device']}",
    ]
    if n:
        args.append(f"--n {n}")
    if dataset_of(model) == "svhn":
        args.append(f"--svhn-normalization {config['svhn_normalization']}")
    return " ".join(args)


def scale_note(dataset):
    """What the numbers are: scale, budget, test-set size."""
    t = config["training"][dataset]
    n = config["evaluation"]["n_test"] or "all"
    seeds = len(SEEDS)
    note = (
        f"{config['scale']} scale: {t['steps']} iterations of batch {t['batch_size']}, "
        f"{n} test images, {seeds} seed{'s' if seeds > 1 else ''}, precision {COMPUTE['precision']}"
    )
    if config["scale"] == "smoke":
        note = f"SMOKE OUTPUT, NOT A RESULT: {note}"
    return note


def table_spec(name):
    t = config["tables"][name]
    if t["kind"] == "whitebox":
        rows = t["attacks"]
        row_labels = {a: ATTACKS[a]["label"] for a in rows}
    else:
        rows = t["substitutes"]
        row_labels = {s: f"{MODELS[s]['column']} ({MODELS[s]['label']})" for s in rows}
    return {
        "name": name,
        "kind": t["kind"],
        "title": t["title"],
        "paper_table": t.get("paper_table", name),
        "rows": rows,
        "row_labels": row_labels,
        "models": t["models"],
        "model_info": {
            m: {"column": MODELS[m]["column"], "label": MODELS[m]["label"]}
            for m in t["models"]
        },
        "note": scale_note(t["dataset"]),
        "config_hash": STUDY_HASH,
        "config": {
            "models": {m: MODELS[m] for m in t["models"]},
            "training": config["training"][t["dataset"]],
            "evaluation": config["evaluation"],
            "seeds": SEEDS,
            "scale": config["scale"],
        },
    }


def table_inputs(name):
    t = config["tables"][name]
    if t["kind"] == "whitebox":
        return [
            f"{R}/eval/{m}/seed{s}/{a}.json"
            for a in t["attacks"]
            for m in t["models"]
            for s in SEEDS
        ]
    return [
        f"{R}/transfer/eval/{name}/{m}/seed{s}.json" for m in t["models"] for s in SEEDS
    ]


def table_outputs(name):
    return [f"{R}/tables/{name}.{ext}" for ext in ("csv", "tex", "html")]


def all_targets():
    out = []
    for name, t in config["tables"].items():
        if t["dataset"] in ACTIVE:
            out += table_outputs(name)
    for name, f in config["figures"].items():
        if f["dataset"] in ACTIVE:
            out += [
                f"{R}/figures/{name}{p}.{ext}"
                for p in f["panels"]
                for ext in ("pdf", "png")
            ]
    if config.get("cost_table", True):
        out += [f"{R}/tables/training_cost.{ext}" for ext in ("csv", "tex", "html")]
    return out


def trained_models():
    """Every (model, seed) that some active table or figure needs."""
    names = []
    for t in config["tables"].values():
        if t["dataset"] in ACTIVE:
            names += t["models"] + t.get("substitutes", [])
    for f in config["figures"].values():
        if f["dataset"] in ACTIVE:
            names += f["models"]
    return [model_file(m, s) for m in dict.fromkeys(names) for s in SEEDS]


def data_sources(wildcards):
    src = config["data"][wildcards.dataset]
    if src.get("download", False):
        return []
    base = (
        os.path.join(workflow.basedir, src["src"])
        if not os.path.isabs(src["src"])
        else src["src"]
    )
    if wildcards.dataset == "mnist":
        names = [
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ]
    else:
        names = ["train_32x32.mat", "test_32x32.mat"]
    return [os.path.join(base, n) for n in names]


def transfer_adv(wildcards):
    t = config["tables"][wildcards.table]
    return [
        f"{R}/transfer/adv/{sub}/seed{wildcards.seed}/{t['attack']}.pt"
        for sub in t["substitutes"]
    ]


def figure_of(wildcards):
    return config["figures"][wildcards.figure]


def surface_inputs(wildcards):
    f = figure_of(wildcards)
    attack = f["panels"][wildcards.panel]
    seed = SEEDS[0]
    return [
        f"{R}/surfaces/{wildcards.figure}/{m}/seed{seed}/{attack}.npz"
        for m in f["models"]
    ]
