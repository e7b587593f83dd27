"""The study plan (e2sad/plan/), called directly: which jobs exist, their command lines
and specs, and what a change of one hyperparameter touches."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from helpers_data import smoke_config
from snakemake.utils import update_config

from e2sad.data import FORMATS
from e2sad.plan import Plan, load_study

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def study(cfg: dict) -> Plan:
    return Plan.of(load_study(cfg, base_dir=REPO))


def merged(*overlays: str) -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    for o in overlays:
        update_config(cfg, yaml.safe_load((REPO / o).read_text()))
    return cfg


def test_smoke_plan():
    s = study(smoke_config())
    assert s.study.active == ["mnist"]
    t31 = s.study.tables["table_3_1"]
    assert len(s.targets.table_inputs("table_3_1")) == len(t31["models"]) * len(t31["attacks"]) * len(s.study.seeds)
    assert len(s.targets.trained_models()) == 10  # the 9 models of Table 3.1 and Hamm's
    assert len(s.targets.transfer_adv("table_3_2", 0)) == 6
    assert {f for f in s.targets.all_targets() if "/figures/" in f} == {
        f"results/smoke/figures/figure_3_3{p}.{e}" for p in "ab" for e in ("pdf", "png")
    }


def test_train_args_carry_every_hyperparameter():
    s = study(smoke_config())
    args = s.commands.train_args("mnist_e2sad_S")
    for opt in ("--alpha 0.2", "--lam 0.1", "--eps1 0.3", "--eps2 0.1", "--second-step entropy", "--clip-second range"):
        assert opt in args
    assert "--dataset mnist --network cnn_a1 --normalization none" in args
    assert "--steps 4 --batch-size 32" in args
    assert s.commands.attack_args("ifgsm_0.3_k30") == "--attack ifgsm --eps 0.3 --k 30"


def test_changing_lambda_touches_exactly_what_depends_on_it():
    cfg = smoke_config()
    before = study(cfg)
    cfg2 = copy.deepcopy(cfg)
    cfg2["models"]["mnist_e2sad_S"]["lam"] = 0.2
    after = study(cfg2)
    changed = [m for m in before.study.models if before.commands.train_args(m) != after.commands.train_args(m)]
    # the e2SAD model and the ablation's variants of it (they take the base's hyperparameters)
    assert changed == ["mnist_e2sad_S"] + [m for m in before.study.models if m.startswith("mnist_e2sad_S__")]
    assert len(changed) == 4
    hashes = {
        t: (before.specs.table_spec(t)["config_hash"], after.specs.table_spec(t)["config_hash"])
        for t in before.study.tables
    }
    moved = {t for t, (a, b) in hashes.items() if a != b}
    assert moved == {"table_3_1", "table_3_2"}  # minimax and Table 3.3 hold no e2SAD model


def test_changing_a_declared_default_touches_exactly_the_models_that_use_it(monkeypatch):
    """Every declared hyperparameter reaches the train rule's params resolved, defaults included: a
    new default of e2SAD's sigma (a key the config leaves out) moves the params of exactly the e2SAD
    models that take the default, while no command line changes (it names only the config's keys)."""
    import dataclasses

    from e2sad.defenses import DEFENSES

    cfg = merged()
    before = study(cfg)
    models = before.study.models
    hp_before = {m: before.commands.hyperparameters(m) for m in models}  # read now: the registry is read lazily
    args_before = {m: before.commands.train_args(m) for m in models}
    decl = DEFENSES["e2sad"]
    default = next(p.default for p in decl.params if p.name == "sigma")
    params = tuple(dataclasses.replace(p, default=default / 2) if p.name == "sigma" else p for p in decl.params)
    monkeypatch.setitem(DEFENSES, "e2sad", dataclasses.replace(decl, params=params))
    after = study(cfg)
    moved = [m for m in models if hp_before[m] != after.commands.hyperparameters(m)]
    expected = [m for m in models if models[m]["defense"] == "e2sad" and "sigma" not in models[m]]
    assert expected and moved == expected
    assert all(args_before[m] == after.commands.train_args(m) for m in models)
    assert f'"sigma": {default / 2}' in after.commands.hyperparameters(expected[0])


def test_svhn_left_out_without_its_files(tmp_path):
    cfg = merged()
    cfg["data"]["svhn"]["src"] = str(tmp_path / "nowhere")
    s = study(cfg)
    assert s.study.active == ["mnist"]
    assert not any("table_3_3" in t or "svhn" in t for t in s.targets.all_targets())


def test_fashion_overlay_is_planned_from_its_declaration():
    if not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    s = study(merged("config/fashion.yaml"))
    assert s.study.active == ["fashion"]
    assert s.commands.data_source("fashion") == "/usr/share/datasets/fashion-mnist"
    assert "--format idx --channels 1 --size 28 --classes 10" in s.commands.prepare_args("fashion")
    targets = s.targets.all_targets()
    assert "results/fashion/tables/fashion_whitebox.csv" in targets
    assert "results/fashion/figures/fashion_surfaceb.png" in targets
    assert not any("table_3_1" in t for t in targets)
    assert "--eps1 0.1 --eps2 0.0333333" in s.commands.train_args("fashion_e2sad_S")
    assert len(s.targets.trained_models()) == 7


def test_src_list_takes_the_first_folder_with_the_files(tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    for n in FORMATS["idx"][1]:
        (full / n).write_bytes(b"")
    cfg = smoke_config()
    cfg["data"]["mnist"]["src"] = [str(tmp_path / "empty"), str(full), "../shared/data/mnist"]
    assert study(cfg).commands.data_source("mnist") == str(full)


def test_projection_warns_before_a_paper_run_on_the_cpu():
    from e2sad.plan.cost import WARN_AFTER_S

    def warnings(lines):
        return [ln for ln in lines if ln.startswith("warning: the paper's scale on a CPU")]

    paper = study(merged())
    seconds, lines = paper.cost.projection("cpu", 2)
    assert seconds > 2 * 86400 and len(warnings(lines)) == 1 and "config/reduced.yaml" in warnings(lines)[0]
    assert not warnings(paper.cost.projection("cuda", 1)[1])  # on a GPU: the figures, no warning
    verdict = study(merged("config/verdict.yaml"))  # Wong et al.'s recipe on their small network: no warning
    seconds, lines = verdict.cost.projection("cpu", 2)
    assert seconds < WARN_AFTER_S and not warnings(lines) and "(wong2020 scale)" in lines[0]
    assert verdict.specs.scale_note("mnist").startswith("Wong et al. 2020's MNIST recipe on network wong2020_mnist: ")
    # the frontier target's own figure: its trainings and evaluations, not the `all` target's
    frontier = verdict.cost.frontier_flops()
    assert frontier["train"] == sum(
        verdict.cost.train_time(m) * verdict.cost.forward_flops("mnist") * len(verdict.study.frontier_seeds_of(m))
        for m in verdict.study.frontier_trained()
    )  # each model on its own seeds (frontier.model_seeds: 5 for e2SAD and IFGSM AT, 3 for the rest)
    assert frontier["evaluate"] > frontier["train"] > 0
    assert any(ln.startswith("frontier target: ") for ln in lines)
    reduced = study(merged("config/reduced.yaml"))
    seconds, lines = reduced.cost.projection("cpu", 2)
    assert 5 * 60 < seconds < 60 * 60 and not warnings(lines) and "reduced scale" in lines[0]
    # the FLOPs of the Table A.1 CNN's forward: 2 x (28x28x32x25 + 14x14x64x800 + 3136x1024 + 1024x10)
    assert paper.cost.forward_flops("mnist") == 2 * (28 * 28 * 32 * 25 + 14 * 14 * 64 * 800 + 3136 * 1024 + 1024 * 10)


def test_costliest_trainings_start_first():
    s = study(merged("config/reduced.yaml"))
    trained = {f.split("/")[-3] for f in s.targets.trained_models()}  # what `all` trains
    order = sorted(trained, key=s.cost.train_priority, reverse=True)
    assert set(order[:2]) == {"mnist_ifgsm03_H", "mnist_ifgsm03_S"}
    # the frontier's PGD-AT and TRADES (41-42 F per step) outrank them when `frontier` runs
    assert s.cost.train_priority("mnist_pgd_at_H") > s.cost.train_priority("mnist_ifgsm03_H")
    assert s.cost.train_priority("mnist_natural_H") < s.cost.train_priority("mnist_e2sad_S")


def test_variant_overlay_goes_to_its_own_folder_and_compares(tmp_path):
    """The README's way to change one hyperparameter: an overlay with its own results folder
    plans the whole study there (the baseline folder is not touched), and compare_results puts
    the two folders side by side, naming the value that differs."""
    import json
    import subprocess
    import sys

    cfg = smoke_config()
    variant = copy.deepcopy(cfg)
    update_config(variant, {"results": str(tmp_path / "variant"), "models": {"mnist_e2sad_S": {"lam": 0.2}}})
    s = study(variant)
    assert all(t.startswith(str(tmp_path / "variant")) for t in s.targets.all_targets())
    assert "--lam 0.2" in s.commands.train_args("mnist_e2sad_S") and "--alpha 0.2" in s.commands.train_args(
        "mnist_e2sad_S"
    )
    for folder, lam, acc in (("base", 0.1, 0.5), ("variant", 0.2, 0.75)):
        ev = tmp_path / folder / "eval" / "mnist_e2sad_S" / "seed0"
        ev.mkdir(parents=True)
        (ev / "fgsm_0.3.json").write_text(json.dumps({"accuracy": acc}))
        md = tmp_path / folder / "models" / "mnist_e2sad_S" / "seed0"
        md.mkdir(parents=True)
        (md / "model.pt.meta.json").write_text(json.dumps({"values": {"hparams": {"lam": lam}}}))
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "compare_results.py"), str(tmp_path / "base"), str(tmp_path / "variant")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "hparams.lam: 0.1 -> 0.2" in out and "+0.250" in out


def test_gpu_jobs_take_one_gpu_slot_and_cpu_jobs_none():
    """The resource gpu_slots: 1 per training/evaluation job on a GPU, 0 on the CPU; the gpu profile
    offers 4 (several small-network jobs share one GPU)."""
    cpu = smoke_config()
    cpu["compute"]["device"] = "cpu"
    gpu = copy.deepcopy(cpu)
    gpu["compute"]["device"] = "cuda"
    assert study(cpu).study.gpu_slot() == 0 and study(gpu).study.gpu_slot() == 1
    assert study(gpu).study.device() == "cuda"
    profile = yaml.safe_load((REPO / "workflow/profiles/gpu/profile.yaml").read_text())
    assert "gpu_slots=4" in profile["resources"]
    for rules in ("train", "attack", "science", "frontier"):
        assert "gpu_slots=GPU_SLOT" in (REPO / f"workflow/rules/{rules}.smk").read_text(), rules


def test_compile_key_reaches_the_training_command_line_only_when_set():
    """compute.compile (opt-in torch.compile / CUDA graphs for the training step) is passed to
    every training as --compile MODE; with the default (none) no training carries it."""
    cfg = smoke_config()
    plain = study(cfg)
    assert not any("--compile" in plain.commands.train_args(m) for m in plain.study.models)
    cfg["compute"]["compile"] = "reduce-overhead"
    s = study(cfg)
    assert len(s.study.models) > 10 and all(
        "--compile reduce-overhead" in s.commands.train_args(m) for m in s.study.models
    )


def test_merge_clean_reaches_the_defenses_that_have_a_clean_term_and_their_cost():
    """compute.merge_clean: --merge-clean only for the defenses declared merge_clean=True (those
    whose code takes it), and their step then counts one B_xw in place of a B_in and a B_w, in time
    weights and in training FLOPs."""
    import inspect

    from e2sad.defenses import DEFENSES, PASS_TIME_WEIGHTS, step_flops, step_passes, step_time
    from e2sad.flops import network_pass_flops

    for name in DEFENSES:
        takes = "merge_clean" in inspect.signature(DEFENSES[name].fn).parameters
        assert bool(DEFENSES.get_decl(name, "defense").extra.get("merge_clean")) == takes, name
    hp = {"alpha": 0.5, "eps": 0.3}
    assert step_passes("fgsm_at", hp, True) == {"F": 2, "B_in": 0, "B_w": 1, "B_xw": 1}
    saved = PASS_TIME_WEIGHTS["B_in"] + PASS_TIME_WEIGHTS["B_w"] - PASS_TIME_WEIGHTS["B_xw"]
    assert step_time("fgsm_at", hp, True) == pytest.approx(step_time("fgsm_at", hp) - saved)
    flops = network_pass_flops("cnn_a1", 1, 28, 10)
    saved = flops["B_in"] + flops["B_w"] - flops["B_xw"]
    assert 0 < saved < flops["F"]  # a forward's FLOPs less the first convolution's input gradient
    assert step_flops("fgsm_at", hp, flops, True) == pytest.approx(step_flops("fgsm_at", hp, flops) - saved)
    rs = {"eps": 0.3, "alpha": 0.375}
    assert step_passes("fgsm_rs", rs, True) == step_passes("fgsm_rs", rs)

    cfg = smoke_config()
    plain = study(copy.deepcopy(cfg))
    cfg["compute"]["merge_clean"] = True
    merged = study(cfg)
    assert "--merge-clean" in merged.commands.train_args(
        "mnist_e2sad_S"
    ) and "--merge-clean" in merged.commands.train_args("mnist_fgsm03_H")
    assert not any("--merge-clean" in merged.commands.train_args(m) for m in ("mnist_natural_H", "mnist_fgsm_rs_H"))
    assert not any("--merge-clean" in plain.commands.train_args(m) for m in plain.study.models)
    for cost in ("train_time", "train_flops"):
        with_merge, without = getattr(merged.cost, cost), getattr(plain.cost, cost)
        assert with_merge("mnist_e2sad_S") < without("mnist_e2sad_S")
        assert with_merge("mnist_fgsm_rs_H") == without("mnist_fgsm_rs_H")


def test_a_checks_note_says_its_own_images_and_seeds_not_the_evaluations():
    """The robustness and sanity checks run on their own test images and seeds: their note says
    those, never the ``evaluation`` section's image count or the study's seed count beside them."""
    cfg = merged()
    cfg["seeds"] = [0, 1, 2]
    cfg["evaluation"]["n_test"] = 500
    cfg["robustness"]["n_test"], cfg["robustness"]["seeds"] = 2000, [1]
    cfg["sanity"]["n_test"] = 1000
    specs = study(cfg).specs
    robust, sanity = specs.robustness_spec()["note"], specs.sanity_spec()["note"]
    assert robust.endswith("this check on the first 2000 test images and seed 1"), robust
    assert sanity.endswith("this check on the first 1000 test images and seeds 0, 1, 2"), sanity
    for note in (robust, sanity):
        assert "500 test images" not in note and "3 seeds" not in note, note
