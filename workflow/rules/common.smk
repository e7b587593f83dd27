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
    if COMPUTE.get("merge_clean", False) and m["defense"] != "natural":
        args.append("--merge-clean")
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
    spec = {
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
        "config": {
            "models": {m: MODELS[m] for m in t["models"] + t.get("substitutes", [])},
            "attacks": {a: ATTACKS[a] for a in t.get("attacks", [t.get("attack")])},
            "training": config["training"][t["dataset"]],
            "evaluation": config["evaluation"],
            "seeds": SEEDS,
            "scale": config["scale"],
        },
    }
    # the hash of what this table depends on (not the whole study, so an unrelated change does not re-run it)
    spec["config_hash"] = config_hash(spec["config"])
    return spec


def table_inputs(name, seeds=None):
    t = config["tables"][name]
    seeds = SEEDS if seeds is None else seeds
    if t["kind"] == "whitebox":
        return [
            f"{R}/eval/{m}/seed{s}/{a}.json"
            for a in t["attacks"]
            for m in t["models"]
            for s in seeds
        ]
    return [
        f"{R}/transfer/eval/{name}/{m}/seed{s}.json" for m in t["models"] for s in seeds
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
    if config.get("science", False):
        out += science_targets()
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


# --------------------------------------------------------------------------- #
# Scientific validity (workflow/rules/science.smk): second-step ablation,
# stronger evaluation, sanity checks, checked statements.
# --------------------------------------------------------------------------- #
from e2sad.config import check_science  # noqa: E402
from e2sad.science import ablation_models, ablation_variant_models  # noqa: E402

try:
    SCIENCE_WARNINGS = check_science(config, base_dir=workflow.basedir)
except ConfigError as exc:
    print(f"e2sad: error: {exc}", file=sys.stderr)
    sys.exit(1)
for _w in SCIENCE_WARNINGS:
    print(f"e2sad: note: {_w}", file=sys.stderr)

ABLATION = config.get("ablation") or {}
ROBUST = config.get("robustness") or {}
SANITY = config.get("sanity") or {}
# the costly checks may run on a subset of the seeds (default: all of them)
ROBUST_SEEDS = ROBUST.get("seeds", SEEDS)
SANITY_SEEDS = SANITY.get("seeds", SEEDS)
# variant -> model; the derived models join MODELS, so rules train/evaluate build them
ABLATION_VARIANTS = ablation_variant_models(config)
MODELS = {**MODELS, **ablation_models(config)}
SCIENCE_ATTACKS = {**ATTACKS, **ROBUST.get("attacks", {})}
# the paper's qualitative claims are about this table
STATEMENTS_TABLE = "table_3_1"


wildcard_constraints:
    model="|".join(re.escape(m) for m in MODELS),


def science_note(dataset, n, seeds=None):
    """scale_note, and the test subset (n: None = all) and seeds of the check."""
    subset = f"the first {n}" if n else "all"
    note = f"{scale_note(dataset)}; this check on {subset} test images"
    if seeds is not None and list(seeds) != list(SEEDS):
        note += f" and seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))} only"
    return note


def clean_attack():
    return next((a for a, x in ATTACKS.items() if x["kind"] == "none"), None)


def science_attack_args(attack):
    a = SCIENCE_ATTACKS[attack]
    args = [f"--attack {a['kind']}"]
    for k in ("eps", "k", "step", "restarts", "steps"):
        if k in a:
            args.append(f"--{k} {a[k]}")
    if "seed" in a:
        args.append(f"--attack-seed {a['seed']}")
    return " ".join(args)


def subset_eval_args(model, section):
    """eval_args with the test subset and batch size of a science section."""
    n = section.get("n_test")
    args = [
        f"--dataset {dataset_of(model)}",
        f"--batch-size {section.get('batch_size', 500)}",
        f"--device {COMPUTE['device']}",
    ]
    if n:
        args.append(f"--n {n}")
    if dataset_of(model) == "svhn":
        args.append(f"--svhn-normalization {config['svhn_normalization']}")
    return " ".join(args)


def sweep_args(sweep):
    s = SANITY["sweeps"][sweep]
    args = [f"--attack {s['kind']}"]
    if "k" in s:
        args.append(f"--k {s['k']}")
    if "restarts" in s:
        args.append(f"--restarts {s['restarts']}")
    if "seed" in s:
        args.append(f"--attack-seed {s['seed']}")
    return " ".join(args)


def _active_tables(names):
    return [t for t in names if config["tables"][t]["dataset"] in ACTIVE]


# ---- ablation


def ablation_table_name():
    return ABLATION.get("table", "table_3_1")


def ablation_active():
    return bool(ABLATION) and bool(_active_tables([ablation_table_name()]))


def ablation_rows():
    if not ablation_active():
        return []
    attacks = config["tables"][ablation_table_name()]["attacks"]
    return [
        f"{R}/eval/{m}/seed{s}/{a}.json"
        for m in ABLATION_VARIANTS.values()
        for s in SEEDS
        for a in attacks
    ]


def ablation_model_files():
    if not ablation_active():
        return []
    return [model_file(m, s) for m in ABLATION_VARIANTS.values() for s in SEEDS]


def ablation_spec():
    t = config["tables"][ablation_table_name()]
    base = ABLATION["base"]
    spec = {
        "title": f"Second-step ablation of {base}: each reading of eq. 3.2 at the same budget and seeds",
        "base": base,
        "variants": ABLATION_VARIANTS,
        "attacks": t["attacks"],
        "attack_labels": {a: ATTACKS[a]["label"] for a in t["attacks"]},
        "paper_table": t.get("paper_table", ablation_table_name()),
        "paper_model": base,
        "note": scale_note(t["dataset"]),
        "config": {
            "models": {m: MODELS[m] for m in ABLATION_VARIANTS.values()},
            "training": config["training"][t["dataset"]],
            "evaluation": config["evaluation"],
            "seeds": SEEDS,
        },
    }
    spec["config_hash"] = config_hash(spec["config"])
    return spec


def ablation_targets():
    if not ablation_active():
        return []
    return [f"{R}/science/ablation.{ext}" for ext in ("csv", "tex", "html")]


# ---- stronger evaluation


def robust_models():
    names = []
    for t in _active_tables(ROBUST.get("tables", [])):
        names += config["tables"][t]["models"]
    return list(dict.fromkeys(names))


def robust_attacks():
    """Every attack counted in "strongest": the reference, the paper's others, the new ones."""
    return list(
        dict.fromkeys(
            [ROBUST["reference"]] + ROBUST.get("also", []) + list(ROBUST["attacks"])
        )
    )


def robustness_inputs():
    if not robust_models():
        return []
    clean = [clean_attack()] if clean_attack() else []
    return [
        f"{R}/science/robustness/eval/{m}/seed{s}/{a}.json"
        for m in robust_models()
        for s in ROBUST_SEEDS
        for a in clean + robust_attacks()
    ]


def robustness_spec():
    models = robust_models()
    attacks = robust_attacks()
    ds = MODELS[models[0]]["dataset"]
    spec = {
        "title": "Stronger evaluation: the paper's attack beside the strongest attack found",
        "models": models,
        "model_info": {
            m: {"column": MODELS[m]["column"], "label": MODELS[m]["label"]}
            for m in models
        },
        "reference": ROBUST["reference"],
        "attacks": attacks,
        "clean": clean_attack(),
        "attack_labels": {
            a: SCIENCE_ATTACKS[a]["label"] for a in attacks + [clean_attack()] if a
        },
        "paper_table": _active_tables(ROBUST["tables"])[0],
        "flag_drop": ROBUST.get("flag_drop", 0.05),
        "note": science_note(ds, ROBUST.get("n_test"), ROBUST_SEEDS),
        "config": {
            "attacks": {a: SCIENCE_ATTACKS[a] for a in attacks},
            "n_test": ROBUST.get("n_test"),
            "seeds": ROBUST_SEEDS,
        },
    }
    spec["config_hash"] = config_hash(spec["config"])
    return spec


def robustness_targets():
    if not robust_models():
        return []
    return [f"{R}/science/robustness.{ext}" for ext in ("csv", "tex", "html")]


# ---- sanity checks


def sanity_tables():
    return _active_tables(SANITY.get("tables", []))


def sanity_models():
    names = []
    for t in sanity_tables():
        names += config["tables"][t]["models"] + config["tables"][t].get(
            "substitutes", []
        )
    return list(dict.fromkeys(names))


def sanity_sweeps():
    return [
        f"{R}/science/sanity/sweep/{m}/seed{s}/{sw}.json"
        for m in sanity_models()
        for s in SANITY_SEEDS
        for sw in SANITY.get("sweeps", {})
    ]


def sanity_whitebox():
    """Evaluation rows the checks compare: the white-box tables' attacks, and the
    transfer tables' attack run white-box on each target."""
    out = []
    for name in sanity_tables():
        t = config["tables"][name]
        attacks = t["attacks"] if t["kind"] == "whitebox" else [t["attack"]]
        out += [
            f"{R}/eval/{m}/seed{s}/{a}.json"
            for m in t["models"]
            for s in SANITY_SEEDS
            for a in attacks
        ]
    return list(dict.fromkeys(out))


def sanity_transfer():
    out = []
    for name in sanity_tables():
        if config["tables"][name]["kind"] == "transfer":
            out += table_inputs(name, SANITY_SEEDS)
    return out


def sanity_spec():
    models = sanity_models()
    attacks = {}
    transfer = {}
    for name in sanity_tables():
        t = config["tables"][name]
        for a in t["attacks"] if t["kind"] == "whitebox" else [t["attack"]]:
            attacks[a] = {
                k: ATTACKS[a][k] for k in ("kind", "eps", "k") if k in ATTACKS[a]
            }
        if t["kind"] == "transfer":
            transfer[name] = t["attack"]
    ds = MODELS[models[0]]["dataset"]
    spec = {
        "models": models,
        "model_labels": {
            m: f"{MODELS[m]['column']}, {MODELS[m]['label']}" for m in models
        },
        "attacks": attacks,
        "transfer_attacks": transfer,
        "sweep_labels": {n: x["label"] for n, x in SANITY["sweeps"].items()},
        "note": science_note(ds, SANITY.get("n_test"), SANITY_SEEDS),
        "config": {
            "eps": SANITY["eps"],
            "sweeps": SANITY["sweeps"],
            "n_test": SANITY.get("n_test"),
            "seeds": SANITY_SEEDS,
        },
    }
    spec["config_hash"] = config_hash(spec["config"])
    return spec


def sanity_targets():
    if not sanity_models():
        return []
    return [f"{R}/science/sanity.{ext}" for ext in ("csv", "html")] + [
        f"{R}/science/figures/eps_sweep.{ext}" for ext in ("pdf", "png")
    ]


# ---- checked statements


def statements_spec():
    t = config["tables"][STATEMENTS_TABLE]
    return {
        "attacks": {
            a: {k: ATTACKS[a][k] for k in ("kind", "eps", "k") if k in ATTACKS[a]}
            for a in t["attacks"]
        },
        "note": scale_note(t["dataset"]),
    }


def statements_targets():
    if STATEMENTS_TABLE not in config["tables"] or not _active_tables(
        [STATEMENTS_TABLE]
    ):
        return []
    return [f"{R}/science/statements.{ext}" for ext in ("html", "md", "csv")]


def science_targets():
    return (
        ablation_targets()
        + robustness_targets()
        + sanity_targets()
        + statements_targets()
    )
