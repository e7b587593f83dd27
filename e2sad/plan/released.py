"""The released models (``released``, ``snakemake released``): which of them the user has supplied,
where their converted model files and evaluations live, and what their table and their points on the
frontier say (the files are read by :mod:`e2sad.released`, the table made by
:mod:`e2sad.science.released`, the evaluations' command lines by
:meth:`.commands.Commands.released_eval_args`)."""

from __future__ import annotations

from pathlib import Path

from ..config.sections import RELEASED_META, released_absent
from ..defenses import step_flops
from ..provenance import config_hash
from ..released import RELEASES
from ..science.published import PUBLISHED
from .science_targets import TABLE_FORMATS
from .study import Study


class ReleasedPlan:
    """The ``released`` section of a :class:`~.study.Study`."""

    def __init__(self, study: Study):
        self.study = study
        self.section = study.config.get("released") or {}

    def declared(self) -> dict[str, dict]:
        """Every released model of the config, by name (supplied or not)."""
        return self.section.get("models") or {}

    def active(self) -> list[str]:
        """The released models whose file is there and whose dataset the study runs."""
        absent = released_absent(self.study.config, self.study.base_dir)
        return [n for n, r in self.declared().items() if n not in absent and r["dataset"] in self.study.active]

    # ---- one released model

    def release(self, name: str) -> str:
        return self.declared()[name]["release"]

    def file(self, name: str) -> str:
        """The released file the user supplies (``released.models.<name>.file``, from the workflow's folder)."""
        return str(Path(self.study.base_dir) / self.declared()[name]["file"])

    def data_file(self, name: str) -> str:
        return self.study.layout.path("data", dataset=self.declared()[name]["dataset"])

    def model_file(self, name: str) -> str:
        return self.study.layout.path("released_model", released=name)

    def eval_file(self, name: str, attack: str) -> str:
        return self.study.layout.path("released_eval", released=name, attack=attack)

    def hyperparameters(self, name: str) -> dict:
        """The hyperparameters of the defense its recipe trained it with."""
        return {k: v for k, v in self.declared()[name].items() if k not in RELEASED_META}

    def train_flops(self, name: str, cost) -> float:
        """Its recipe's training FLOPs: steps x batch x its defense's declared passes, each counted on
        its release's network (``cost``: :class:`.cost.Cost`, whose ``pass_flops`` counts them).  No
        ``merge_clean``: their code trained it, not this engine."""
        r = self.declared()[name]
        passes = cost.pass_flops(r["dataset"], RELEASES[r["release"]].network)
        return r["steps"] * r["batch_size"] * step_flops(r["defense"], self.hyperparameters(name), passes)

    def published(self, name: str) -> tuple[dict, int | None, str | None]:
        """(its published accuracies under ``released.attacks``, on how many test images, their
        source) from :data:`e2sad.science.published.PUBLISHED` (``released.models.<name>.published``)."""
        key = self.declared()[name].get("published")
        p = next((p for p in PUBLISHED if p.key == key), None)
        if p is None:
            return {}, None, None
        values = {a: v for a, v in p.values().items() if a in self.section["attacks"]}
        return values, p.n_test, p.source

    # ---- files of the target

    def inputs(self) -> list[str]:
        """Every evaluation of the active released models under ``released.attacks``."""
        return [self.eval_file(n, a) for n in self.active() for a in self.section["attacks"]]

    def targets(self) -> list[str]:
        """What ``snakemake released`` builds: the table (with the evaluations it reads)."""
        if not self.active():
            return []
        return self.study.layout.paths("released_table", TABLE_FORMATS)

    def frontier_rows(self, attack: str) -> list[str]:
        """The evaluations under ``attack`` (the frontier's robust attack) of the active released
        models of the frontier's dataset that exist now: the frontier draws a released model where
        ``snakemake released`` has measured it."""
        if attack not in (self.section.get("attacks") or []) or not self.study.frontier_active():
            return []
        names = [n for n in self.active() if self.declared()[n]["dataset"] == self.study.frontier["dataset"]]
        return [f for f in (self.eval_file(n, attack) for n in names) if Path(f).is_file()]

    # ---- specs

    def spec(self) -> dict:
        """The released table's spec: its models with their label, release, recipe and published
        numbers, the attacks, the test images; hashed on the ``released`` section."""
        info = {}
        for n in self.active():
            r = self.declared()[n]
            values, n_pub, source = self.published(n)
            info[n] = {
                "label": r["label"],
                "release": r["release"],
                "defense": r["defense"],
                "steps": r["steps"],
                "batch_size": r["batch_size"],
                "source": r.get("source") or RELEASES[r["release"]].source,
                "published": values,
                "published_n": n_pub,
                "published_source": source,
            }
        attacks = list(self.section["attacks"])
        n = self.section["n_test"]
        config = {k: self.section[k] for k in sorted(self.section)}
        spec = {
            "title": self.section["title"],
            "models": self.active(),
            "model_info": info,
            "attacks": attacks,
            "attack_labels": {a: self.study.science_attacks[a]["label"] for a in attacks},
            "n_test": n,
            "note": (
                "released models as their authors trained them (their recipes, not this engine's); "
                f"evaluated here on {f'the first {n:,}' if n else 'all'} test images"
            ),
            "config": config,
        }
        return {**spec, "config_hash": config_hash(config)}

    def frontier_points(self, cost) -> list[dict]:
        """The active released models of the frontier's dataset as points of the frontier: each at
        its recipe's training FLOPs (:meth:`train_flops`), labelled as a released model; their
        accuracy is read from their rows (:meth:`frontier_rows`) by the frontier's figure."""
        if not self.study.frontier_active():
            return []
        out = []
        for n in self.active():
            r = self.declared()[n]
            if r["dataset"] != self.study.frontier["dataset"]:
                continue
            out.append(
                {
                    "key": n,
                    "label": r["label"],
                    "protocol": "released",
                    "release": r["release"],
                    "defense": r["defense"],
                    "network": RELEASES[r["release"]].network,
                    "steps": r["steps"],
                    "batch_size": r["batch_size"],
                    "train_flops": self.train_flops(n, cost),
                }
            )
        return out
