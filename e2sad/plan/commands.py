"""Command-line options of each job: every hyperparameter explicit, read from the resolved config
(no default restated here: the schema holds them, :func:`e2sad.config.schema.resolve_config` applies them)."""

from __future__ import annotations

import json
import os

from ..attacks import ATTACKS
from ..data import dataset_folder, source_digests, source_files
from ..defenses import DEFENSES
from ..errors import DataError
from ..provenance import read_sidecar, sidecar_path
from ..released import RELEASES
from .frontier import FrontierPlan
from .study import Study


class Commands:
    """The options of ``python -m e2sad <command>`` for each job of a :class:`~.study.Study`."""

    def __init__(self, study: Study, frontier: FrontierPlan):
        self.study = study
        self.frontier = frontier

    def data_source(self, dataset: str) -> str:
        """The folder prepare-data reads (the first of ``src`` that holds the files)."""
        return str(dataset_folder(self.study.config["data"][dataset], self.study.base_dir))

    def data_sources(self, dataset: str) -> list[str]:
        """The original files of a dataset (none to wait for when download is set and they are absent)."""
        files = [str(f) for f in source_files(self.study.config["data"][dataset]["format"], self.data_source(dataset))]
        if self.study.config["data"][dataset]["download"] and not all(map(os.path.isfile, files)):
            return []
        return files

    def check_prepared(self) -> None:
        """Each prepared dataset against its original files: the rule reads those files as
        ``ancient`` (a new copy of the same bytes, e.g. a re-mounted ``../shared/data``, re-runs
        nothing), so a prepared file whose recorded digests (:func:`e2sad.data.source_digests`)
        differ from the files' bytes now is an error that names both and the way out."""
        for dataset in self.study.config["data"]:
            prepared = self.study.layout.path("data", dataset=dataset)
            if not sidecar_path(prepared).is_file():
                continue
            recorded = read_sidecar(prepared).get("sources") or {}  # none: prepared before digests
            now = source_digests(f for f in self.data_sources(dataset) if os.path.basename(f) in recorded)
            changed = sorted(f for f in now if now[f] != recorded[f])
            if changed:
                raise DataError(
                    f"{prepared} was prepared from other files than {self.data_source(dataset)} holds now "
                    f"({', '.join(changed)}: recorded {recorded[changed[0]][:20]}..., now {now[changed[0]][:20]}...); "
                    f"delete {prepared} to prepare it again (everything trained on it re-runs)"
                )

    def prepare_args(self, dataset: str) -> str:
        d = self.study.config["data"][dataset]
        lo, hi = d["pixel_range"]
        args = [
            f"--format {d['format']}",
            f"--channels {d['channels']}",
            f"--size {d['size']}",
            f"--classes {d['classes']}",
            f"--pixel-range {lo} {hi}",
        ]
        if d["download"]:
            args.append("--download")
            if d.get("torchvision"):
                args.append(f"--torchvision {d['torchvision']}")
        return " ".join(args)

    def net_args(self, model: str) -> str:
        """The dataset and the paper's network a model is built as."""
        ds = self.study.dataset_of(model)
        d = self.study.config["data"][ds]
        return f"--dataset {ds} --network {d['network']} --normalization {d['normalization']}"

    def train_args(self, model: str) -> str:
        """Every hyperparameter of a model's training as explicit options."""
        m = self.study.models[model]
        t = self.study.training_of(model)
        c = self.study.compute
        args = [
            self.net_args(model),
            f"--defense {m['defense']}",
            f"--smoothing {m.get('smoothing') or 'none'}",
            f"--steps {self.study.steps_of(model)}",
            f"--batch-size {t['batch_size']}",
            f"--optimizer {t['optimizer']}",
            f"--lr {t['lr']}",
            f"--precision {c['precision']}",
            f"--device {c['device']}",
        ]
        if t["schedule"] != "constant":
            args.append(f"--schedule {t['schedule']}")
        if t["eps_warmup"] > 0 and DEFENSES.get_decl(m["defense"], "defense").budget_names():
            args.append(f"--eps-warmup {t['eps_warmup']}")  # natural training has no budget to ramp
        if c["merge_clean"] and DEFENSES.get_decl(m["defense"], "defense").extra.get("merge_clean"):
            args.append("--merge-clean")
        if c["channels_last"]:
            args.append("--channels-last")
        if c["compile"] != "none":
            args.append(f"--compile {c['compile']}")
        return " ".join(args + DEFENSES.cli_args(m["defense"], m))

    def hyperparameters(self, model: str) -> str:
        """Every declared hyperparameter of a model's defense, defaults included, resolved (JSON): the
        train rule's ``params:``, so that a changed declared default re-runs exactly its models
        (the command line names only the keys the config gives)."""
        m = self.study.models[model]
        return json.dumps(DEFENSES.resolved(m["defense"], m), sort_keys=True)

    def attack_hyperparameters(self, attack: str) -> str:
        """Every declared parameter of an attack, defaults included, resolved (JSON)."""
        a = self.study.science_attacks[attack]
        return json.dumps(ATTACKS.resolved(a["kind"], a), sort_keys=True)

    def attack_args(self, attack: str) -> str:
        """An attack (of ``attacks`` or ``robustness.attacks``) as explicit options."""
        a = self.study.science_attacks[attack]
        return " ".join([f"--attack {a['kind']}"] + ATTACKS.cli_args(a["kind"], a))

    def eval_args(self, model: str, section: dict | None = None, net: str | None = None) -> str:
        """Test subset, batch size, device and network of an evaluation (``section``: the
        ``evaluation`` section, or a science section with its own ``n_test`` and ``batch_size``;
        ``net``: the network's options when ``model`` is not a trained model, :meth:`released_eval_args`)."""
        section = self.study.config["evaluation"] if section is None else section
        args = [
            self.net_args(model) if net is None else net,
            f"--batch-size {section['batch_size']}",
            f"--device {self.study.compute['device']}",
        ]
        if self.study.compute["channels_last"]:
            args.append("--channels-last")
        if section["n_test"]:
            args.append(f"--n {section['n_test']}")
            if section.get("sample_seed") is not None:
                args.append(f"--sample-seed {section['sample_seed']}")
        return " ".join(args)

    def released_eval_args(self, name: str) -> str:
        """An evaluation of released model ``name`` (``released.models``) as :meth:`eval_args`, on
        its release format's network (:data:`e2sad.released.RELEASES`) and ``released``'s test
        images and batch size."""

        rel = self.study.config["released"]
        r = rel["models"][name]
        fmt = RELEASES[r["release"]]
        net = f"--dataset {r['dataset']} --network {fmt.network} --normalization {fmt.normalization}"
        return self.eval_args(name, rel, net=net)

    def sweep_args(self, sweep: str) -> str:
        s = self.study.sanity["sweeps"][sweep]
        args = [f"--attack {s['kind']}"]
        for key, opt in (("k", "--k"), ("restarts", "--restarts"), ("seed", "--attack-seed")):
            if key in s:
                args.append(f"{opt} {s[key]}")
        return " ".join(args)

    def snapshot_args(self, model: str, seed) -> str:
        steps = self.frontier.snapshot_steps(model)
        if not steps:
            return ""
        return f"--snapshots {' '.join(map(str, steps))} --snapshot-dir {self.study.snapshot_dir(model, seed)}"

    def snapshot_eval_args(self, model: str) -> str:
        fr = self.study.frontier
        return self.eval_args(model, {"n_test": fr["snapshot_n_test"], "batch_size": fr["batch_size"]})
