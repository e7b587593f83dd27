"""What the study costs: the training FLOPs of a model (its declared passes, each counted on its
network: :mod:`e2sad.flops`), and the projection that the workflow prints before any job runs (the
passes weighted by their measured time, :data:`e2sad.defenses.PASS_TIME_WEIGHTS`)."""

from __future__ import annotations

from ..attacks import ATTACKS
from ..defenses import PASS_TIME_WEIGHTS
from ..flops import network_pass_flops
from ..models import build_model, forward_flops
from .models import entry_flops, entry_time
from .study import Study
from .targets import Targets

#: sustained FLOP/s of one job, for the projection printed before a run: one CPU thread, one GPU
#: (how they were measured, on which machines: docs/performance.md, "Projection rates")
RATES = {"cpu": 45e9, "cuda": 15e12}
#: a CPU projection of the paper's scale longer than this prints the laptop warning
WARN_AFTER_S = 4 * 3600
#: test-set size assumed when n_test is null and the prepared data is not there yet
DEFAULT_TEST_SIZE = 10_000


def _duration(seconds: float) -> str:
    """3 days 4 h, 5 h 20 min, 12 min."""
    m = round(seconds / 60)
    if m >= 24 * 60:
        return f"{m // 1440} days {m % 1440 // 60} h"
    if m >= 60:
        return f"{m // 60} h {m % 60} min"
    return f"{max(m, 1)} min"


class Cost:
    """The costs of a :class:`~.study.Study`'s jobs: training FLOPs, and for ordering the jobs and
    projecting their time, forward passes' time of one image."""

    def __init__(self, study: Study, targets: Targets):
        self.study = study
        self.targets = targets

    def train_time(self, model: str) -> float:
        """A training job's time in forward passes of one image: steps x batch x the step's passes,
        each weighted by its measured time (:func:`e2sad.defenses.step_time`); for the projection
        and the jobs' order only."""
        return self.study.steps_of(model) * entry_time(self.study.config, self.study.models[model])

    def train_flops(self, model: str) -> float:
        """A model's training FLOPs: steps x batch x the step's passes, each counted on the
        dataset's network (:func:`e2sad.plan.models.entry_flops`)."""
        return self.study.steps_of(model) * entry_flops(self.study.config, self.study.models[model])

    def pass_flops(self, dataset: str, network: str | None = None) -> dict[str, float]:
        """One image's FLOPs of each pass kind through the dataset's network (or ``network`` on its
        images): :func:`e2sad.flops.network_pass_flops`."""

        d = self.study.config["data"][dataset]
        return network_pass_flops(network or d["network"], d["channels"], d["size"], d["classes"])

    def forward_flops(self, dataset: str, network: str | None = None) -> float:
        """FLOPs of one forward of one image through the dataset's network (or ``network`` on its images)."""

        d = self.study.config["data"][dataset]
        net = build_model(network or d["network"], d["normalization"], d["channels"], d["size"], d["classes"])
        return float(forward_flops(net, (d["channels"], d["size"], d["size"])))

    def eval_cost(self, attack: str, n, dataset: str) -> float:
        """An evaluation's time in forward passes of one image: the attack's declared passes (for the
        dataset's classes: APGD-T's targets), weighted by their time, + 1 F."""
        a = self.study.science_attacks[attack]
        classes = self.study.config["data"][dataset]["classes"]
        passes = ATTACKS.get_decl(a["kind"]).extra["passes"](a, classes)
        per_image = 1 + sum(k * PASS_TIME_WEIGHTS[p] for p, k in passes.items())
        return (n or DEFAULT_TEST_SIZE) * per_image

    def _table_eval_flops(self, fwd: dict) -> float:
        """The tables' evaluations: white-box attacks (one job per dataset, model, attack, whichever
        tables share it; one forward when it reads a transfer craft's examples), transfer targets."""
        n = self.study.config["evaluation"]["n_test"] or DEFAULT_TEST_SIZE
        flops, attacked, read = 0.0, set(), set()
        for t in self.study.tables.values():
            if t["dataset"] not in self.study.active:
                continue
            if t["kind"] == "whitebox":
                for m, a in {(m, a) for m in t["models"] for a in t["attacks"]}:
                    (read if self.targets.crafted_adv(m, 0, a) else attacked).add((t["dataset"], m, a))
            else:
                attacked |= {(t["dataset"], s, t["attack"]) for s in t["substitutes"]}
                flops += len(t["models"]) * len(t["substitutes"]) * n * fwd[t["dataset"]]
        flops += sum(self.eval_cost(a, n, d) * fwd[d] for d, m, a in attacked) * len(self.study.seeds)
        flops += sum(n * fwd[d] for d, _, _ in read) * len(self.study.seeds)
        return flops

    def projected_flops(self) -> dict[str, float]:
        """Time-weighted FLOPs (forward FLOPs x the passes' time weights) of the study that ``all``
        builds, for the projection: its trainings and its evaluations (white-box, transfer crafts
        and targets, loss surfaces); the science checks are not counted."""
        fwd = {d: self.forward_flops(d) for d in self.study.active}
        train = sum(
            self.train_time(m) * fwd[self.study.dataset_of(m)] * len(self.study.seeds)
            for m in self.targets.trained_names()
        )
        evals = self._table_eval_flops(fwd)
        for f in self.study.figures.values():
            if f["dataset"] in self.study.active:
                grid = f["points"] ** 2 * f["n"] + sum(
                    self.eval_cost(a, f["n"], f["dataset"]) for a in f["panels"].values()
                )
                evals += len(f["models"]) * grid * fwd[f["dataset"]]
        return {"train": train, "evaluate": evals}

    def frontier_flops(self) -> dict[str, float]:
        """Time-weighted FLOPs of the ``frontier`` target, for the projection: its trainings (declared
        and equal-cost models) and its evaluations, each attack counted on every image (an upper
        bound: AutoAttack's later attacks only run on the images the earlier ones left)."""
        if not self.study.frontier_active():
            return {"train": 0.0, "evaluate": 0.0}
        fr = self.study.frontier
        fwd = self.forward_flops(fr["dataset"])
        seeds = {m: len(self.study.frontier_seeds_of(m)) for m in self.study.frontier_trained()}
        train = sum(self.train_time(m) * k for m, k in seeds.items()) * fwd
        per_model = sum(self.eval_cost(a, fr["n_test"], fr["dataset"]) for a in fr["attacks"])
        return {"train": train, "evaluate": per_model * sum(seeds.values()) * fwd}

    def projection(self, device: str, cores: int) -> tuple[float, list[str]]:
        """(projected seconds, lines to print) of the study on ``device`` ('cpu' or 'cuda') with
        ``cores`` jobs at once; a warning line when the paper's scale would run for hours on a CPU
        (the ``paper`` label only: config/verdict.yaml's ``wong2020`` runs its small network in an hour)."""
        flops = self.projected_flops()
        total = sum(flops.values())
        kind = "cuda" if device.startswith("cuda") else "cpu"
        parallel = max(1, cores) if kind == "cpu" else 1
        seconds = total / (RATES[kind] * parallel)
        where = f"{parallel} CPU core{'s' if parallel > 1 else ''}" if kind == "cpu" else "one GPU"
        share = 100 * flops["train"] / total if total else 0
        lines = [
            f"plan (target all): {total / 1e12:,.1f} TFLOP ({share:.0f} % training), "
            f"projected {_duration(seconds)} on {where} at {RATES[kind] / 1e9:,.0f} GFLOP/s per job "
            f"({self.study.config['scale']} scale)"
        ]
        frontier = self.frontier_flops()
        if sum(frontier.values()):
            f_total = sum(frontier.values())
            lines.append(
                f"frontier target: {f_total / 1e12:,.1f} TFLOP ({100 * frontier['train'] / f_total:.0f} % training), "
                f"at most {_duration(f_total / (RATES[kind] * parallel))} on {where} (attacks counted on every image)"
            )
        if kind == "cpu" and self.study.config["scale"] == "paper" and seconds > WARN_AFTER_S:
            lines.append(
                f"warning: the paper's scale on a CPU takes about {_duration(seconds)} here; for a laptop run: "
                "snakemake --cores 2 all --configfile config/reduced.yaml"
            )
        return seconds, lines

    def train_priority(self, model: str) -> int:
        """Snakemake priority of a training job: the costliest start first, so that no core
        idles at the end of a study while one long training runs alone."""
        costs = sorted({self.train_time(m) for m in self.study.models})
        return 1 + costs.index(self.train_time(model))
