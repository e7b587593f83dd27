"""Bad study configs stop with exactly one line naming the key, the bad value and what is allowed.

Most cases call :func:`e2sad.config.checked.check_config` on the config Snakemake would
see for ``--configfile config/smoke.yaml`` (config.yaml deep-merged with the
override, Snakemake's own merge), broken in one place.  A few run Snakemake end
to end, from the repository root, and check what the user sees: a non-zero
exit, one ``e2sad: error:`` line, no traceback, and no job run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers_data import smoke_config  # noqa: E402

from e2sad.config.checked import check_config
from e2sad.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _set(path: str, value):
    def mutate(cfg):
        *head, last = path.split("/")
        node = cfg
        for k in head:
            node = node[k]
        node[last] = value

    return mutate


def _del(path: str):
    def mutate(cfg):
        *head, last = path.split("/")
        node = cfg
        for k in head:
            node = node[k]
        del node[last]

    return mutate


def _append(path: str, value):
    def mutate(cfg):
        node = cfg
        for k in path.split("/"):
            node = node[k]
        node.append(value)

    return mutate


def _both(*fs):
    def mutate(cfg):
        for f in fs:
            f(cfg)

    return mutate


# (id, mutation, fragments the one-line message must contain: the key, the bad value, what is allowed)
CASES = [
    ("wrong_type", _set("training/mnist/batch_size", "32"), ["training.mnist.batch_size", "'32'", "expected integer"]),
    ("eps_above_1", _set("models/mnist_fgsm03_H/eps", 1.5), ["models.mnist_fgsm03_H.eps", "1.5", "(0, 1]"]),
    ("eps_zero", _set("attacks/fgsm_0.3/eps", 0), ["attacks.fgsm_0.3.eps", ": 0 ", "(0, 1]"]),
    ("k_below_1", _set("models/mnist_ifgsm03_H/k", 0), ["models.mnist_ifgsm03_H.k", ": 0 ", "[1, inf)"]),
    ("alpha_above_1", _set("models/mnist_fgsm03_H/alpha", 1.2), ["models.mnist_fgsm03_H.alpha", "1.2", "[0, 1]"]),
    ("lambda_negative", _set("models/mnist_e2sad_S/lam", -0.1), ["models.mnist_e2sad_S.lam", "-0.1", "[0, 1]"]),
    (
        "lambda_as_string_from_snakemake_config",
        _set("models/mnist_e2sad_S/lam", "0.2"),
        ["models.mnist_e2sad_S.lam", "'0.2'", "expected number", "overlay file"],
    ),
    (
        "dataset_not_declared",
        _set("models/mnist_natural_H/dataset", "cifar10"),
        ["models.mnist_natural_H.dataset", "'cifar10'", "not declared under data", "mnist, svhn"],
    ),
    (
        "unknown_data_format",
        _set("data/mnist/format", "hdf5"),
        ["data.mnist.format", "'hdf5'", "idx, svhn_mat, npz"],
    ),
    (
        "unknown_network",
        _set("data/mnist/network", "resnet18"),
        ["data.mnist.network", "'resnet18'", "cnn_a1, cnn_a2"],
    ),
    (
        "smoothing_too_low",
        _set("models/mnist_natural_S/smoothing", 0.05),
        ["models.mnist_natural_S.smoothing", "0.05", "null or a number in (0.1, 1]"],
    ),
    (
        "unknown_defense",
        _set("models/mnist_natural_H/defense", "free_at"),
        ["models.mnist_natural_H.defense", "'free_at'", "natural, fgsm_at, ifgsm_at, e2sad, hamm"],
    ),
    (
        "unknown_attack_kind",
        _set("attacks/fgsm_0.3/kind", "cw"),
        ["attacks.fgsm_0.3.kind", "'cw'", "none, fgsm, ifgsm, pgd, apgd_ce, apgd_t"],
    ),
    (
        "unknown_second_step",
        _set("models/mnist_e2sad_S/second_step", "triple"),
        ["models.mnist_e2sad_S.second_step", "'triple'", "literal, entropy, random_start, clean_target"],
    ),
    (
        "table_undeclared_model",
        _append("tables/table_3_1/models", "mnist_ghost"),
        ["tables.table_3_1.models", "'mnist_ghost'", "not declared under models; declared: mnist_natural_H"],
    ),
    (
        "figure_undeclared_model",
        _append("figures/figure_3_3/models", "mnist_ghost"),
        ["figures.figure_3_3.models", "'mnist_ghost'", "not declared under models; declared: mnist_natural_H"],
    ),
    (
        "table_undeclared_attack",
        _append("tables/table_3_1/attacks", "pgd_ghost"),
        ["tables.table_3_1.attacks", "'pgd_ghost'", "declared: clean, fgsm_0.3"],
    ),
    (
        "table_model_of_other_dataset",
        _append("tables/table_3_1/models", "svhn_natural_H"),
        ["tables.table_3_1.models", "'svhn_natural_H'", "svhn model", "mnist models only"],
    ),
    (
        "missing_data_dir",
        _both(_set("data/mnist/src", "no/such/mnist_dir"), _set("data/mnist/download", False)),
        ["data.mnist.src", "'no/such/mnist_dir'", "not found", "download: true"],
    ),
    ("negative_steps", _set("training/mnist/steps", -5), ["training.mnist.steps", "-5", "[1, inf)"]),
    ("negative_batch_size", _set("evaluation/batch_size", -1), ["evaluation.batch_size", "-1", "[1, inf)"]),
    ("unknown_precision", _set("compute/precision", "fp8"), ["compute.precision", "'fp8'", "fp32, bf16, tf32"]),
    ("duplicated_seed", _set("seeds", [0, 1, 0]), ["seeds", "[0, 1, 0]", "lists 0 twice", "once"]),
    ("unknown_top_level_key", _set("learning_rate", 0.1), ["learning_rate", "unknown key", "0.1", "allowed keys"]),
    (
        "model_key_typo",
        _set("models/mnist_fgsm03_H/epsilon", 0.3),
        ["models.mnist_fgsm03_H.epsilon", "unknown key", "0.3", "its hyperparameters: alpha, eps"],
    ),
    (
        "defense_missing_hyperparameter",
        _del("models/mnist_fgsm03_H/eps"),
        ["models.mnist_fgsm03_H.eps", "missing", "defense 'fgsm_at' needs alpha, eps"],
    ),
    (
        "hyperparameter_not_of_defense",
        _set("models/mnist_natural_H/eps", 0.3),
        ["models.mnist_natural_H.eps", "0.3", "defense 'natural'", "its hyperparameters: none"],
    ),
    (
        "attack_param_not_of_kind",
        _set("attacks/fgsm_0.3/k", 10),
        ["attacks.fgsm_0.3.k", ": 10 ", "attack kind 'fgsm'", "its parameters: eps"],
    ),
    (
        "attack_missing_param",
        _del("attacks/ifgsm_0.3_k10/k"),
        ["attacks.ifgsm_0.3_k10.k", "missing", "attack kind 'ifgsm' needs eps, k"],
    ),
    (
        "figure_panel_not_fgsm",
        _both(
            _set("attacks/pgd40", {"kind": "pgd", "eps": 0.3, "k": 40, "label": "PGD"}),
            _set("figures/figure_3_3/panels/b", "pgd40"),
        ),
        ["figures.figure_3_3.panels.b", "'pgd40'", "kind pgd", "fgsm or ifgsm"],
    ),
    ("bad_device", _set("compute/device", "gpu"), ["compute.device", "'gpu'", "auto, cpu, cuda, cuda:N"]),
    ("bad_compile_mode", _set("compute/compile", "fast"), ["compute.compile", "'fast'", "reduce-overhead"]),
    (
        "bad_model_name",
        _set("models/my model", {"dataset": "mnist", "defense": "natural", "column": "x", "label": "H"}),
        ["models", "'my model'", "letters, digits"],
    ),
    ("unknown_scale", _set("scale", "huge"), ["scale", "'huge'", "paper, reduced, smoke, wong2020"]),
    ("unknown_dataset", _set("datasets", ["mnist", "cifar10"]), ["datasets.1", "'cifar10'", "mnist, svhn"]),
    ("zero_n_test", _set("evaluation/n_test", 0), ["evaluation.n_test", ": 0 ", "null or an integer in [1, inf)"]),
    ("float_ckpt_every", _set("compute/ckpt_every", 2.5), ["compute.ckpt_every", "2.5", "expected integer"]),
    (
        "eps_as_fraction_string",
        _set("models/mnist_fgsm03_H/eps", "24/255"),
        ["models.mnist_fgsm03_H.eps", "'24/255'", "expected number"],
    ),
    (
        "transfer_table_without_substitutes",
        _del("tables/table_3_2/substitutes"),
        ["tables.table_3_2.substitutes", "missing", "'substitutes' (a list of model names)"],
    ),
    (
        "missing_top_level_key",
        _del("attacks"),
        ["attacks", "missing", "required keys here: scale, results"],
    ),
    (
        "training_missing_for_dataset",
        _del("training/mnist"),
        ["training.mnist", "missing", "models.mnist_natural_H", "steps, batch_size, optimizer and lr"],
    ),
]


def _message(mutate) -> str:
    cfg = smoke_config()
    mutate(cfg)
    with pytest.raises(ConfigError) as info:
        check_config(cfg, SCHEMA, base_dir=REPO)
    return str(info.value)


def test_smoke_config_itself_passes():
    """The unbroken config is accepted, so each failure below comes from its one change."""
    warnings = check_config(smoke_config(), SCHEMA, base_dir=REPO)
    assert not any(w.startswith("MNIST") for w in warnings)


@pytest.mark.parametrize("mutate,fragments", [pytest.param(m, f, id=i) for i, m, f in CASES])
def test_bad_config_one_line(mutate, fragments):
    msg = _message(mutate)
    assert "\n" not in msg, f"message spans several lines: {msg!r}"
    assert msg.startswith("config: "), msg
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"


def test_case_count():
    assert len({i for i, _, _ in CASES}) == len(CASES) >= 15


def test_duplicate_model_name(tmp_path):
    """Two models with one name: plain YAML keeps the last silently; the strict loader refuses."""
    override = tmp_path / "dup.yaml"
    override.write_text(
        "models:\n"
        "  mnist_natural_H: {dataset: mnist, defense: natural, smoothing: null, column: Natural, label: H}\n"
        "  mnist_natural_H: {dataset: mnist, defense: natural, smoothing: 0.75, column: Natural, label: S}\n"
    )
    assert list(yaml.safe_load(override.read_text())["models"]) == ["mnist_natural_H"]  # silently merged
    with pytest.raises(ConfigError) as info:
        check_config(smoke_config(), SCHEMA, base_dir=REPO, config_files=[REPO / "config.yaml", override])
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{override}: key 'mnist_natural_H' appears twice (lines 2 and 3)"), msg
    assert "must be unique" in msg


def test_unreadable_config_file(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("models:\n  a: {dataset: mnist\n")
    with pytest.raises(ConfigError) as info:
        check_config(smoke_config(), SCHEMA, base_dir=REPO, config_files=[bad])
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{bad}: not valid YAML"), msg


# --- end to end through Snakemake ------------------------------------------------------------

SNAKEMAKE_CASES = [
    pytest.param(
        "models:\n  mnist_fgsm03_H: {eps: 1.5}\n",
        ["config: models.mnist_fgsm03_H.eps: 1.5 is not allowed; must be in (0, 1]"],
        id="eps_above_1",
    ),
    pytest.param(
        "tables:\n  table_3_1: {models: [mnist_natural_H, mnist_ghost]}\n",
        ["config: tables.table_3_1.models: model 'mnist_ghost' is not declared under models; declared:"],
        id="table_undeclared_model",
    ),
    pytest.param(
        "models:\n"
        "  mnist_natural_H: {dataset: mnist, defense: natural, smoothing: null, column: Natural, label: H}\n"
        "  mnist_natural_H: {dataset: mnist, defense: natural, smoothing: 0.75, column: Natural, label: S}\n",
        ["key 'mnist_natural_H' appears twice (lines 3 and 4); names must be unique"],
        id="duplicate_model_name",
    ),
    pytest.param(
        "data:\n  mnist: {src: no/such/mnist_dir, download: false}\n",
        ["config: data.mnist.src: folder 'no/such/mnist_dir' not found", "download: true"],
        id="missing_data_dir",
    ),
]

SNAKEMAKE_INFO = ("Config file config.yaml is extended by additional config specified via the command line.",)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("override,fragments", SNAKEMAKE_CASES)
def test_bad_config_snakemake(tmp_path, override, fragments):
    results = tmp_path / "results"
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"results: {results}\n{override}")
    # not a dry run: if the check let the config through, the data job would run and create results/
    target = f"{results}/data/mnist.pt"
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", target, "--cores", "1", "--configfile", "config/smoke.yaml", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("e2sad: error: ")]
    assert len(errors) == 1, out
    assert "Traceback" not in out and 'File "' not in out and "WorkflowError" not in out, out
    others = [ln for ln in lines if ln not in errors and ln not in SNAKEMAKE_INFO]
    assert not others, f"unexpected extra output: {others}"
    for frag in fragments:
        assert frag in errors[0], f"{frag!r} not in {errors[0]!r}"
    assert not results.exists(), "a job ran although the config is bad"
