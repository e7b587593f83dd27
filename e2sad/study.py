"""The study plan: what a checked config asks for, as files and command lines.

Which models and seeds are trained, which evaluations, crafts, loss surfaces,
tables and checks exist, the command-line options of each job (every
hyperparameter explicit, so changing one changes exactly the jobs that depend
on it) and each table's or check's spec with the hash of what it depends on.
The workflow (``workflow/rules/*.smk``) asks a :class:`Study` for all of this;
tests call it directly.  Paths are relative to the workflow's directory.
"""

from __future__ import annotations

import os
import re

from .attacks import ATTACKS
from .config import dataset_folder
from .data import FORMATS
from .defenses import DEFENSES, PASS_COST, step_cost
from .provenance import config_hash
from .science import ablation_models, ablation_variant_models, frontier_cells, frontier_models

#: sustained FLOP/s of one job, for the projection printed before a run.  CPU: one thread of the
#: 2-core AMD EPYC of bench/README.md (a forward of the Table A.1 CNN, batch 256: 7.1 GFLOP in
#: 156.6 ms = 45 GFLOP/s; measured 2026-11).  GPU: one NVIDIA H100, tf32, one job at a time:
#: 46,110 TFLOP in 51.1 min = 15 TFLOP/s (bench/project.py --time --device cuda, 2026-11-26;
#: docs/results/paper-gpu/README.md); the step is memory- and launch-bound (bf16 is no faster).
RATES = {"cpu": 45e9, "cuda": 15e12}
#: test-set size assumed when n_test is null and the prepared data is not there yet
DEFAULT_TEST_SIZE = 10_000

#: separator of derived model names (<model>__equal_cost)
SEP = "__"

#: the table whose rows the checked statements read (the paper's qualitative claims are about it)
STATEMENTS_TABLE = "table_3_1"


def _duration(seconds: float) -> str:
    """3 days 4 h, 5 h 20 min, 12 min."""
    m = round(seconds / 60)
    if m >= 24 * 60:
        return f"{m // 1440} days {m % 1440 // 60} h"
    if m >= 60:
        return f"{m // 60} h {m % 60} min"
    return f"{max(m, 1)} min"


def _regex(names) -> str:
    """A wildcard constraint matching exactly these names."""
    return "|".join(re.escape(n) for n in names) or "__none__"


class Study:
    """The plan of one checked config.  ``warnings``: those of :func:`e2sad.config.check_config`
    (an optional dataset whose files are absent is left out); ``base_dir``: the workflow's folder."""

    def __init__(self, config: dict, warnings: list[str] = (), base_dir: str = "."):
        self.config = config
        self.base_dir = base_dir
        self.results = config["results"]
        self.seeds = config["seeds"]
        self.compute = config["compute"]
        self.attacks = config["attacks"]
        self.tables = config["tables"]
        self.figures = config["figures"]
        self.active = [
            d for d in config["datasets"] if not any(w.startswith(f"{d.upper()} left out") for w in warnings)
        ]
        self.ablation = config.get("ablation") or {}
        self.robust = config.get("robustness") or {}
        self.sanity = config.get("sanity") or {}
        self.robust_seeds = self.robust.get("seeds", self.seeds)
        self.sanity_seeds = self.sanity.get("seeds", self.seeds)
        self.ablation_variants = ablation_variant_models(config)
        # the ablation's derived models join the declared ones: rules train/evaluate build them
        self.models = {**config["models"], **ablation_models(config)}
        # the frontier's equal-cost models (<model>__equal_cost, with their own steps) join too
        self.frontier = config.get("frontier") or {}
        self.models.update(frontier_models(config, self._entry_cost))
        self.science_attacks = {**self.attacks, **self.robust.get("attacks", {})}

    # ---- where the jobs run

    def device(self) -> str:
        """compute.device with ``auto`` resolved: cuda when torch sees a GPU here, else cpu."""
        device = self.compute["device"]
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        return device

    def gpu_slot(self) -> int:
        """Units of the Snakemake resource ``gpu_slots`` a training or evaluation job takes: 1 on
        a GPU, 0 on the CPU. ``--resources gpu_slots=N`` (workflow/profiles/gpu) lets N of these
        small-network jobs share one GPU at a time."""
        return 1 if self.device().startswith("cuda") else 0

    # ---- names and files

    def wildcards(self) -> dict[str, str]:
        return {
            "model": _regex(self.models),
            "attack": _regex(self.attacks),
            "seed": r"\d+",
            "dataset": _regex(self.config["data"]),
        }

    def dataset_of(self, model: str) -> str:
        return self.models[model]["dataset"]

    def data_file(self, model: str) -> str:
        return f"{self.results}/data/{self.dataset_of(model)}.pt"

    def model_file(self, model: str, seed) -> str:
        return f"{self.results}/models/{model}/seed{seed}/model.pt"

    def _active_tables(self, names) -> list[str]:
        return [t for t in names if self.tables[t]["dataset"] in self.active]

    # ---- command-line options

    def data_source(self, dataset: str) -> str:
        """The folder prepare-data reads (the first of ``src`` that holds the files)."""
        return str(dataset_folder(self.config["data"][dataset], self.base_dir))

    def data_sources(self, dataset: str) -> list[str]:
        """The original files of a dataset (none to wait for when download is set and they are absent)."""
        folder = self.data_source(dataset)
        files = [os.path.join(folder, f) for f in FORMATS[self.config["data"][dataset]["format"]][1]]
        if self.config["data"][dataset].get("download", False) and not all(map(os.path.isfile, files)):
            return []
        return files

    def prepare_args(self, dataset: str) -> str:
        d = self.config["data"][dataset]
        lo, hi = d.get("pixel_range", [0, 255])
        args = [
            f"--format {d['format']}",
            f"--channels {d['channels']}",
            f"--size {d['size']}",
            f"--classes {d['classes']}",
            f"--pixel-range {lo} {hi}",
        ]
        if d.get("download", False):
            args.append("--download")
            if d.get("torchvision"):
                args.append(f"--torchvision {d['torchvision']}")
        return " ".join(args)

    def net_args(self, model: str) -> str:
        """The dataset and the paper's network a model is built as."""
        ds = self.dataset_of(model)
        d = self.config["data"][ds]
        return f"--dataset {ds} --network {d['network']} --normalization {d.get('normalization', 'none')}"

    def train_args(self, model: str) -> str:
        """Every hyperparameter of a model's training as explicit options."""
        m = self.models[model]
        t = self.training_of(model)
        c = self.compute
        args = [
            self.net_args(model),
            f"--defense {m['defense']}",
            f"--smoothing {m.get('smoothing') or 'none'}",
            f"--steps {self.steps_of(model)}",
            f"--batch-size {t['batch_size']}",
            f"--optimizer {t['optimizer']}",
            f"--lr {t['lr']}",
            f"--precision {c['precision']}",
            f"--device {c['device']}",
        ]
        if t.get("schedule", "constant") != "constant":
            args.append(f"--schedule {t['schedule']}")
        if c.get("merge_clean", False) and DEFENSES.get_decl(m["defense"], "defense").extra.get("merge_clean"):
            args.append("--merge-clean")
        if c.get("channels_last", False):
            args.append("--channels-last")
        if c.get("compile", "none") != "none":
            args.append(f"--compile {c['compile']}")
        return " ".join(args + DEFENSES.cli_args(m["defense"], m))

    def steps_of(self, model: str) -> int:
        """Training iterations of a model: its own ``train_steps`` (the frontier's equal-cost models),
        else its dataset's ``training.<dataset>.steps``."""
        m = self.models[model]
        return int(m.get("train_steps", self.config["training"][m["dataset"]]["steps"]))

    def training_of(self, model: str) -> dict:
        """A model's training settings: its dataset's ``training.<dataset>``, with a frontier
        recipe's batch size, optimizer, lr and schedule over them (``<model>__own_recipe``)."""
        return self._entry_training(self.models[model])

    def _entry_training(self, m: dict) -> dict:
        return {**self.config["training"][m["dataset"]], **(m.get("train_recipe") or {})}

    def _entry_cost(self, m: dict) -> float:
        """One training step of a model entry in forward passes of one image (batch x passes)."""
        merge = self.compute.get("merge_clean", False)
        return self._entry_training(m)["batch_size"] * step_cost(m["defense"], m, merge)

    def train_cost(self, model: str) -> float:
        """A training job's cost in forward passes of one image: steps x batch x the step's passes
        (the defense's declared pass counts, :func:`e2sad.defenses.step_cost`)."""
        return self.steps_of(model) * self._entry_cost(self.models[model])

    def forward_flops(self, dataset: str) -> float:
        """FLOPs of one forward of one image through the dataset's network."""
        from .models import build_model, forward_flops

        d = self.config["data"][dataset]
        net = build_model(d["network"], d.get("normalization", "none"), d["channels"], d["size"], d["classes"])
        return float(forward_flops(net, (d["channels"], d["size"], d["size"])))

    def eval_cost(self, model: str, attack: str, n) -> float:
        """An evaluation's cost in forward passes of one image: the attack's declared passes + 1 F."""
        a = self.science_attacks[attack]
        passes = ATTACKS.get_decl(a["kind"]).extra.get("passes", lambda p: {"F": 1, "B_in": 1})(a)
        per_image = 1 + sum(k * PASS_COST[p] for p, k in passes.items())
        return (n or DEFAULT_TEST_SIZE) * per_image

    def projected_flops(self) -> dict[str, float]:
        """FLOPs of the study that ``all`` builds: its trainings and its evaluations (white-box,
        transfer crafts and targets, loss surfaces); the science checks are not counted."""
        fwd = {d: self.forward_flops(d) for d in self.active}
        n = self.config["evaluation"]["n_test"]
        train = sum(
            self.train_cost(m.split("/")[-3]) * fwd[self.dataset_of(m.split("/")[-3])] for m in self.trained_models()
        )
        evals = 0.0
        attacked, read = set(), set()  # (dataset, model, attack): one job each, whichever tables share it
        for t in self.tables.values():
            if t["dataset"] not in self.active:
                continue
            if t["kind"] == "whitebox":
                for m, a in {(m, a) for m in t["models"] for a in t["attacks"]}:
                    (read if self.crafted_adv(m, 0, a) else attacked).add((t["dataset"], m, a))
            else:
                attacked |= {(t["dataset"], s, t["attack"]) for s in t["substitutes"]}
                evals += len(t["models"]) * len(t["substitutes"]) * (n or DEFAULT_TEST_SIZE) * fwd[t["dataset"]]
        evals += sum(self.eval_cost(m, a, n) * fwd[d] for d, m, a in attacked) * len(self.seeds)
        evals += sum((n or DEFAULT_TEST_SIZE) * fwd[d] for d, _, _ in read) * len(self.seeds)  # one F on crafted
        for f in self.figures.values():
            if f["dataset"] in self.active:
                grid = f["points"] ** 2 * f["n"] + sum(self.eval_cost(None, a, f["n"]) for a in f["panels"].values())
                evals += len(f["models"]) * grid * fwd[f["dataset"]]
        return {"train": train, "evaluate": evals}

    def projection(self, device: str, cores: int) -> tuple[float, list[str]]:
        """(projected seconds, lines to print) of the study on ``device`` ('cpu' or 'cuda') with
        ``cores`` jobs at once; a warning line when the paper's scale would run on a CPU."""
        flops = self.projected_flops()
        total = sum(flops.values())
        kind = "cuda" if device.startswith("cuda") else "cpu"
        parallel = max(1, cores) if kind == "cpu" else 1
        seconds = total / (RATES[kind] * parallel)
        where = f"{parallel} CPU core{'s' if parallel > 1 else ''}" if kind == "cpu" else "one GPU"
        share = 100 * flops["train"] / total if total else 0
        lines = [
            f"plan: {total / 1e12:,.1f} TFLOP ({share:.0f} % training), projected {_duration(seconds)} on {where} "
            f"at {RATES[kind] / 1e9:,.0f} GFLOP/s per job ({self.config['scale']} scale)"
        ]
        if kind == "cpu" and self.config["scale"] == "paper":
            lines.append(
                f"warning: the paper's scale on a CPU takes about {_duration(seconds)} here; for a laptop run: "
                "snakemake --cores 2 all --configfile config/reduced.yaml"
            )
        return seconds, lines

    def train_priority(self, model: str) -> int:
        """Snakemake priority of a training job: the costliest start first, so that no core
        idles at the end of a study while one long training runs alone."""
        costs = sorted({self.train_cost(m) for m in self.models})
        return 1 + costs.index(self.train_cost(model))

    def attack_args(self, attack: str) -> str:
        """An attack (of ``attacks`` or ``robustness.attacks``) as explicit options."""
        a = self.science_attacks[attack]
        return " ".join([f"--attack {a['kind']}"] + ATTACKS.cli_args(a["kind"], a))

    def eval_args(self, model: str, section: dict | None = None) -> str:
        """Test subset, batch size, device and network of an evaluation (``section``: a science section)."""
        section = self.config["evaluation"] if section is None else section
        n = section.get("n_test")
        args = [
            self.net_args(model),
            f"--batch-size {section.get('batch_size', 500)}",
            f"--device {self.compute['device']}",
        ]
        if self.compute.get("channels_last", False):
            args.append("--channels-last")
        if n:
            args.append(f"--n {n}")
        return " ".join(args)

    def sweep_args(self, sweep: str) -> str:
        s = self.sanity["sweeps"][sweep]
        args = [f"--attack {s['kind']}"]
        for key, opt in (("k", "--k"), ("restarts", "--restarts"), ("seed", "--attack-seed")):
            if key in s:
                args.append(f"{opt} {s[key]}")
        return " ".join(args)

    # ---- what the numbers are

    def scale_note(self, dataset: str) -> str:
        """What the numbers are: scale, budget, test-set size."""
        t = self.config["training"][dataset]
        n = self.config["evaluation"]["n_test"] or "all"
        seeds = len(self.seeds)
        note = (
            f"{self.config['scale']} scale: {t['steps']} iterations of batch {t['batch_size']}, "
            f"{n} test images, {seeds} seed{'s' if seeds > 1 else ''}, precision {self.compute['precision']}"
        )
        if self.config["scale"] == "smoke":
            note = f"SMOKE OUTPUT, NOT A RESULT: {note}"
        elif self.config["scale"] != "paper":
            seen = t["steps"] * t["batch_size"]
            note += f" ({seen:,} training images seen); the paper's numbers are not expected at this budget"
        return note

    def science_note(self, dataset: str, n, seeds=None) -> str:
        """scale_note, and the test subset (n: None = all) and seeds of the check."""
        subset = f"the first {n}" if n else "all"
        note = f"{self.scale_note(dataset)}; this check on {subset} test images"
        if seeds is not None and list(seeds) != list(self.seeds):
            note += f" and seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))} only"
        return note

    def _model_info(self, models) -> dict:
        return {m: {"column": self.models[m]["column"], "label": self.models[m]["label"]} for m in models}

    # ---- the paper's tables and figures

    def table_spec(self, name: str) -> dict:
        t = self.tables[name]
        if t["kind"] == "whitebox":
            rows = t["attacks"]
            row_labels = {a: self.attacks[a]["label"] for a in rows}
        else:
            rows = t["substitutes"]
            row_labels = {s: f"{self.models[s]['column']} ({self.models[s]['label']})" for s in rows}
        spec = {
            "name": name,
            "kind": t["kind"],
            "title": t["title"],
            "paper_table": t.get("paper_table", name),
            "rows": rows,
            "row_labels": row_labels,
            "models": t["models"],
            "model_info": self._model_info(t["models"]),
            "note": self.scale_note(t["dataset"]),
            "config": {
                "models": {m: self.models[m] for m in t["models"] + t.get("substitutes", [])},
                "attacks": {a: self.attacks[a] for a in t.get("attacks", [t.get("attack")])},
                "training": self.config["training"][t["dataset"]],
                "evaluation": self.config["evaluation"],
                "seeds": self.seeds,
                "scale": self.config["scale"],
            },
        }
        # the hash of what this table depends on (not the whole study: an unrelated change does not re-run it)
        spec["config_hash"] = config_hash(spec["config"])
        return spec

    def eval_file(self, model: str, seed, attack: str) -> str:
        return f"{self.results}/eval/{model}/seed{seed}/{attack}.json"

    def table_inputs(self, name: str, seeds=None) -> list[str]:
        t = self.tables[name]
        seeds = self.seeds if seeds is None else seeds
        if t["kind"] == "whitebox":
            return [self.eval_file(m, s, a) for a in t["attacks"] for m in t["models"] for s in seeds]
        return [f"{self.results}/transfer/eval/{name}/{m}/seed{s}.json" for m in t["models"] for s in seeds]

    def table_outputs(self, name: str) -> list[str]:
        return [f"{self.results}/tables/{name}.{ext}" for ext in ("csv", "tex", "html")]

    def transfer_adv(self, table: str, seed) -> list[str]:
        t = self.tables[table]
        return [self.crafted_adv(sub, seed, t["attack"])[0] for sub in t["substitutes"]]

    def crafted_adv(self, model: str, seed, attack: str) -> list[str]:
        """The examples a transfer table crafts on ``model`` with ``attack`` (the craft_transfer job):
        the white-box evaluation of the same (model, attack) reads them instead of attacking again.
        Both jobs take their arguments from :meth:`attack_args` and :meth:`eval_args`, so the
        examples are the ones the evaluation would make (tests/test_workflow.py checks it)."""
        for t in self.tables.values():
            if t["kind"] == "transfer" and model in t["substitutes"] and t["attack"] == attack:
                return [f"{self.results}/transfer/adv/{model}/seed{seed}/{attack}.pt"]
        return []

    def surface_inputs(self, figure: str, panel: str) -> list[str]:
        f = self.figures[figure]
        attack = f["panels"][panel]
        return [f"{self.results}/surfaces/{figure}/{m}/seed{self.seeds[0]}/{attack}.npz" for m in f["models"]]

    def artifact_name(self, name: str) -> str:
        """A table's or figure's paper name from its title ('Table 3.1', 'Figure 3.3'), else its config name."""
        entry = self.tables.get(name) or self.figures.get(name) or {}
        match = re.match(r"(Table|Figure) [0-9.]*[0-9]", entry.get("title", ""))
        return match.group(0) if match else name

    def surface_labels(self, figure: str) -> list[str]:
        return [f"{self.models[m]['column']} ({self.models[m]['label']})" for m in self.figures[figure]["models"]]

    def surface_title(self, figure: str, panel: str) -> str:
        f = self.figures[figure]
        attack = self.attacks[f["panels"][panel]]["label"]
        return f"{f.get('title', figure)} ({panel}): {attack} directions; {self.scale_note(f['dataset'])}"

    def trained_models(self) -> list[str]:
        """Every model file (model, seed) that some active table or figure needs."""
        names = []
        for t in self.tables.values():
            if t["dataset"] in self.active:
                names += t["models"] + t.get("substitutes", [])
        for f in self.figures.values():
            if f["dataset"] in self.active:
                names += f["models"]
        return [self.model_file(m, s) for m in dict.fromkeys(names) for s in self.seeds]

    # ---- the cost-robustness frontier (e2sad/science/frontier.py)

    def frontier_active(self) -> bool:
        return bool(self.frontier) and self.frontier.get("dataset") in self.active

    def frontier_seeds(self) -> list:
        return self.frontier.get("seeds", self.seeds)

    def frontier_trained(self) -> list[str]:
        """The models the frontier's rows are trained as (declared and equal-cost ones)."""
        return list(dict.fromkeys(t for _, _, t in frontier_cells(self.config))) if self.frontier_active() else []

    def frontier_model_files(self) -> list[str]:
        return [self.model_file(m, s) for m in self.frontier_trained() for s in self.frontier_seeds()]

    def frontier_inputs(self) -> list[str]:
        return [
            f"{self.results}/frontier/eval/{m}/seed{s}/{a}.json"
            for m in self.frontier_trained()
            for s in self.frontier_seeds()
            for a in self.frontier["attacks"]
        ]

    def frontier_spec(self) -> dict:
        fr = self.frontier
        attacks = list(fr["attacks"])
        trained = self.frontier_trained()
        fwd = self.forward_flops(fr["dataset"])
        budget = fr.get("budget", fr["models"][0])
        info = {
            m: {
                "column": self.models[m]["column"],
                "label": self.models[m]["label"],
                "defense": self.models[m]["defense"],
                "steps": self.steps_of(m),
                "tflop": self.train_cost(m) * fwd / 1e12,
            }
            for m in trained
        }
        natural = next((m for m in trained if self.models[m]["defense"] == "natural" and SEP not in m), None)
        paper_point = None
        ref = fr.get("reference")
        e2 = next((m for m in fr["models"] if self.models[m]["defense"] == "e2sad"), None)
        if ref and e2:
            from .science import paper_column

            value = paper_column(fr.get("paper_table", "table_3_1"), e2).get(ref)
            if value is not None:
                paper_point = {"value": value, "label": f"{self.science_attacks[ref]['label']} {value:.4f}"}
        spec = {
            "title": fr.get("title", "Cost-robustness frontier"),
            "cells": [list(c) for c in frontier_cells(self.config)],
            "attacks": attacks,
            "attack_labels": {a: self.science_attacks[a]["label"] for a in attacks},
            "model_info": info,
            "robust": fr["robust"],
            "reference": ref,
            "natural": natural,
            "budget": budget,
            "paper_point": paper_point,
            "note": self.science_note(fr["dataset"], fr.get("n_test"), self.frontier_seeds()),
            "config": {k: fr[k] for k in sorted(fr)},
        }
        spec["config_hash"] = config_hash(spec["config"])
        return spec

    # robustness along training: snapshots of the frontier's declared models
    def snapshot_steps(self, model: str) -> list[int]:
        """Steps after which a frontier model is kept: ``frontier.snapshots`` below its own steps,
        and its last step (the final model)."""
        snaps = self.frontier.get("snapshots") or []
        if not snaps or not self.frontier_active() or model not in self.frontier["models"]:
            return []
        steps = self.steps_of(model)
        return sorted({s for s in snaps if s < steps} | {steps})

    def snapshot_dir(self, model: str, seed) -> str:
        return f"{self.results}/snapshots/{model}/seed{seed}"

    def snapshot_args(self, model: str, seed) -> str:
        steps = self.snapshot_steps(model)
        if not steps:
            return ""
        return f"--snapshots {' '.join(map(str, steps))} --snapshot-dir {self.snapshot_dir(model, seed)}"

    def snapshot_inputs(self) -> list[str]:
        return [
            f"{self.results}/frontier/snapshots/{m}/seed{s}/step{k}/{a}.json"
            for m in self.frontier.get("models", [])
            for s in self.frontier_seeds()
            for k in self.snapshot_steps(m)
            for a in self.frontier.get("snapshot_attacks", [])
        ]

    def snapshot_eval_args(self, model: str) -> str:
        section = {"n_test": self.frontier.get("snapshot_n_test", 200), "batch_size": self.frontier.get("batch_size")}
        return self.eval_args(model, section)

    def snapshot_spec(self) -> dict:
        fr = self.frontier
        attacks = list(fr.get("snapshot_attacks", []))
        kinds = {a: self.science_attacks[a]["kind"] for a in attacks}
        spec = {
            "title": "Robustness along training",
            "models": list(fr["models"]),
            "model_info": {
                m: {
                    "column": self.models[m]["column"],
                    "label": self.models[m]["label"],
                    "defense": self.models[m]["defense"],
                }
                for m in fr["models"]
            },
            "attacks": attacks,
            "attack_labels": {a: self.science_attacks[a]["label"] for a in attacks},
            "single_step": next((a for a in attacks if kinds[a] == "fgsm"), None),
            "iterative": next((a for a in attacks if kinds[a] != "fgsm"), None),
            "overfit_drop": fr.get("overfit_drop", 0.2),
            "note": self.science_note(fr["dataset"], fr.get("snapshot_n_test", 200), self.frontier_seeds()),
            "config": {k: fr.get(k) for k in ("snapshots", "snapshot_attacks", "snapshot_n_test", "overfit_drop")},
        }
        spec["config_hash"] = config_hash(spec["config"])
        return spec

    def frontier_targets(self) -> list[str]:
        if not self.frontier_active():
            return []
        R = self.results
        out = [f"{R}/frontier/frontier.{x}" for x in ("csv", "tex", "html", "pdf", "png")]
        if self.snapshot_inputs():
            out += [f"{R}/frontier/snapshots.{x}" for x in ("csv", "html", "pdf", "png")]
        return out

    def cost_spec(self) -> dict:
        return {"note": self.scale_note(self.active[0] if self.active else self.config["datasets"][0])}

    def all_targets(self) -> list[str]:
        out = []
        for name, t in self.tables.items():
            if t["dataset"] in self.active:
                out += self.table_outputs(name)
        for name, f in self.figures.items():
            if f["dataset"] in self.active:
                out += [f"{self.results}/figures/{name}{p}.{ext}" for p in f["panels"] for ext in ("pdf", "png")]
        if self.config.get("cost_table", True):
            out += [f"{self.results}/tables/training_cost.{ext}" for ext in ("csv", "tex", "html")]
        if self.config.get("science", False):
            out += self.science_targets()
        return out

    # ---- science: second-step ablation

    def ablation_table_name(self) -> str:
        return self.ablation.get("table", "table_3_1")

    def ablation_active(self) -> bool:
        return bool(self.ablation) and bool(self._active_tables([self.ablation_table_name()]))

    def ablation_rows(self) -> list[str]:
        if not self.ablation_active():
            return []
        attacks = self.tables[self.ablation_table_name()]["attacks"]
        return [self.eval_file(m, s, a) for m in self.ablation_variants.values() for s in self.seeds for a in attacks]

    def ablation_model_files(self) -> list[str]:
        if not self.ablation_active():
            return []
        return [self.model_file(m, s) for m in self.ablation_variants.values() for s in self.seeds]

    def ablation_spec(self) -> dict:
        name = self.ablation_table_name()
        t = self.tables[name]
        base = self.ablation["base"]
        spec = {
            "title": f"Second-step ablation of {base}: each reading of eq. 3.2 at the same budget and seeds",
            "base": base,
            "variants": self.ablation_variants,
            "attacks": t["attacks"],
            "attack_labels": {a: self.attacks[a]["label"] for a in t["attacks"]},
            "paper_table": t.get("paper_table", name),
            "paper_model": base,
            "note": self.scale_note(t["dataset"]),
            "config": {
                "models": {m: self.models[m] for m in self.ablation_variants.values()},
                "training": self.config["training"][t["dataset"]],
                "evaluation": self.config["evaluation"],
                "seeds": self.seeds,
            },
        }
        spec["config_hash"] = config_hash(spec["config"])
        return spec

    def ablation_targets(self) -> list[str]:
        if not self.ablation_active():
            return []
        return [f"{self.results}/science/ablation.{ext}" for ext in ("csv", "tex", "html")]

    # ---- science: stronger evaluation

    def clean_attack(self) -> str | None:
        return next((a for a, x in self.attacks.items() if x["kind"] == "none"), None)

    def robust_models(self) -> list[str]:
        names = []
        for t in self._active_tables(self.robust.get("tables", [])):
            names += self.tables[t]["models"]
        return list(dict.fromkeys(names))

    def robust_attacks(self) -> list[str]:
        """Every attack counted in "strongest": the reference, the paper's others, the new ones."""
        r = self.robust
        return list(dict.fromkeys([r["reference"]] + r.get("also", []) + list(r["attacks"])))

    def robustness_inputs(self) -> list[str]:
        if not self.robust_models():
            return []
        clean = [self.clean_attack()] if self.clean_attack() else []
        return [
            f"{self.results}/science/robustness/eval/{m}/seed{s}/{a}.json"
            for m in self.robust_models()
            for s in self.robust_seeds
            for a in clean + self.robust_attacks()
        ]

    def robustness_spec(self) -> dict:
        models, attacks, clean = self.robust_models(), self.robust_attacks(), self.clean_attack()
        spec = {
            "title": "Stronger evaluation: the paper's attack beside the strongest attack found",
            "models": models,
            "model_info": self._model_info(models),
            "reference": self.robust["reference"],
            "attacks": attacks,
            "clean": clean,
            "attack_labels": {a: self.science_attacks[a]["label"] for a in attacks + [clean] if a},
            "paper_table": self._active_tables(self.robust["tables"])[0],
            "flag_drop": self.robust.get("flag_drop", 0.05),
            "note": self.science_note(self.dataset_of(models[0]), self.robust.get("n_test"), self.robust_seeds),
            "config": {
                "attacks": {a: self.science_attacks[a] for a in attacks},
                "n_test": self.robust.get("n_test"),
                "seeds": self.robust_seeds,
            },
        }
        spec["config_hash"] = config_hash(spec["config"])
        return spec

    def robustness_targets(self) -> list[str]:
        if not self.robust_models():
            return []
        return [f"{self.results}/science/robustness.{ext}" for ext in ("csv", "tex", "html")]

    # ---- science: sanity checks

    def sanity_tables(self) -> list[str]:
        return self._active_tables(self.sanity.get("tables", []))

    def _table_attacks(self, name: str) -> list[str]:
        t = self.tables[name]
        return t["attacks"] if t["kind"] == "whitebox" else [t["attack"]]

    def sanity_models(self) -> list[str]:
        names = []
        for t in self.sanity_tables():
            names += self.tables[t]["models"] + self.tables[t].get("substitutes", [])
        return list(dict.fromkeys(names))

    def sanity_sweeps(self) -> list[str]:
        return [
            f"{self.results}/science/sanity/sweep/{m}/seed{s}/{sw}.json"
            for m in self.sanity_models()
            for s in self.sanity_seeds
            for sw in self.sanity.get("sweeps", {})
        ]

    def sanity_whitebox(self) -> list[str]:
        """Evaluation rows the checks compare: the white-box tables' attacks, and the
        transfer tables' attack run white-box on each target."""
        out = []
        for name in self.sanity_tables():
            out += [
                self.eval_file(m, s, a)
                for m in self.tables[name]["models"]
                for s in self.sanity_seeds
                for a in self._table_attacks(name)
            ]
        return list(dict.fromkeys(out))

    def sanity_transfer(self) -> list[str]:
        out = []
        for name in self.sanity_tables():
            if self.tables[name]["kind"] == "transfer":
                out += self.table_inputs(name, self.sanity_seeds)
        return out

    def sanity_spec(self) -> dict:
        models = self.sanity_models()
        attacks, transfer = {}, {}
        for name in self.sanity_tables():
            for a in self._table_attacks(name):
                attacks[a] = {k: self.attacks[a][k] for k in ("kind", "eps", "k") if k in self.attacks[a]}
            if self.tables[name]["kind"] == "transfer":
                transfer[name] = self.tables[name]["attack"]
        s = self.sanity
        spec = {
            "models": models,
            "model_labels": {m: f"{self.models[m]['column']}, {self.models[m]['label']}" for m in models},
            "attacks": attacks,
            "transfer_attacks": transfer,
            "sweep_labels": {n: x["label"] for n, x in s["sweeps"].items()},
            "note": self.science_note(self.dataset_of(models[0]), s.get("n_test"), self.sanity_seeds),
            "config": {"eps": s["eps"], "sweeps": s["sweeps"], "n_test": s.get("n_test"), "seeds": self.sanity_seeds},
        }
        spec["config_hash"] = config_hash(spec["config"])
        return spec

    def sanity_targets(self) -> list[str]:
        if not self.sanity_models():
            return []
        return [f"{self.results}/science/sanity.{ext}" for ext in ("csv", "html")] + [
            f"{self.results}/science/figures/eps_sweep.{ext}" for ext in ("pdf", "png")
        ]

    # ---- science: checked statements

    def statements_spec(self) -> dict:
        t = self.tables[STATEMENTS_TABLE]
        keep = ("kind", "eps", "k")
        return {
            "attacks": {a: {k: self.attacks[a][k] for k in keep if k in self.attacks[a]} for a in t["attacks"]},
            "note": self.scale_note(t["dataset"]),
        }

    def statements_targets(self) -> list[str]:
        if STATEMENTS_TABLE not in self.tables or not self._active_tables([STATEMENTS_TABLE]):
            return []
        return [f"{self.results}/science/statements.{ext}" for ext in ("html", "md", "csv")]

    def science_targets(self) -> list[str]:
        return self.ablation_targets() + self.robustness_targets() + self.sanity_targets() + self.statements_targets()
