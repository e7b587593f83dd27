"""Relations between the config's keys that a schema cannot state: a model's defense and its
hyperparameters are the declaration's (:mod:`e2sad.defenses`), an attack's kind and parameters
likewise (:mod:`e2sad.attacks`), a dataset's format, network and files (:mod:`e2sad.data`,
:mod:`e2sad.models`), and what each table and figure names is declared, for its dataset."""

from __future__ import annotations

from pathlib import Path

from ..attacks import ATTACKS
from ..data import FORMATS, dataset_folder, dataset_folders
from ..defenses import DEFENSES
from ..errors import ConfigError
from ..models import NETWORKS, NORMALIZATIONS
from ..schedules import SCHEDULES
from .messages import few
from .schema import ATTACK_META, MODEL_META


def _declared(registry, name: str, where: str, given: dict, noun: str) -> None:
    """A model's defense (or an attack's kind) and its hyperparameters, checked by their declaration."""
    try:
        registry.get_decl(name, where).check(given, where.rsplit(".", 1)[0], noun)
    except ConfigError as exc:
        raise ConfigError(f"config: {exc}") from None


def check_model(name: str, m: dict) -> None:
    """One model: its defense is declared and its hyperparameters are the declaration's."""
    hp = {k: v for k, v in m.items() if k not in MODEL_META}
    _declared(DEFENSES, m["defense"], f"models.{name}.defense", hp, "hyperparameter")


def check_attack(where: str, a: dict) -> None:
    """One attack entry: its kind is declared and its parameters are the declaration's."""
    params = {k: v for k, v in a.items() if k not in ATTACK_META}
    _declared(ATTACKS, a["kind"], f"{where}.kind", params, "parameter")


def dataset_absent(name: str, d: dict, base_dir: str | Path = ".") -> str | None:
    """One dataset declaration (``data.<name>``): its format, network and normalization are the
    library's, and its files are there (or download is set).  Returns ``None`` when the dataset can
    be used, one line saying why it is left out when it is declared ``optional`` and its files are
    absent; raises :class:`ConfigError` for any other problem."""
    for key, allowed in (("format", FORMATS), ("network", NETWORKS), ("normalization", NORMALIZATIONS)):
        if key in d and d[key] not in allowed:
            raise ConfigError(f"config: data.{name}.{key}: {d[key]!r} is not allowed; allowed: {', '.join(allowed)}")
    if d["download"]:
        return None
    folder = dataset_folder(d, base_dir)
    files = FORMATS[d["format"]][1]
    missing = [f for f in files if not (folder / f).is_file()]
    if not missing:
        return None
    where = (
        "any of the folders " + ", ".join(map(str, dataset_folders(d, base_dir)))
        if isinstance(d["src"], list)
        else str(folder)
    )
    source = f" (from {d['url']})" if d.get("url") else ""
    if d["optional"]:
        what = f"folder {folder} not found" if not folder.is_dir() else f"{', '.join(missing)} not in {folder}"
        return (
            f"{name.upper()} left out: {what}; put {' and '.join(files)} there{source} "
            f"or set data.{name}.download: true"
        )
    if not folder.is_dir():
        raise ConfigError(
            f"config: data.{name}.src: folder {d['src']!r} not found (from {Path(base_dir).resolve()}); "
            "point it at the dataset files or set download: true"
        )
    raise ConfigError(f"config: data.{name}.src: {', '.join(missing)} not in {where}{source}; or set download: true")


def check_dataset(name: str, d: dict, base_dir: str | Path = ".") -> list[str]:
    """:func:`dataset_absent` as a list of warnings (empty when the dataset is there)."""
    absent = dataset_absent(name, d, base_dir)
    return [absent] if absent else []


def left_out_datasets(config: dict, base_dir: str | Path = ".") -> dict[str, str]:
    """The datasets of ``datasets`` that are left out (optional, files absent): name -> why."""
    out = {}
    for ds in config["datasets"]:
        absent = dataset_absent(ds, config["data"][ds], base_dir)
        if absent:
            out[ds] = absent
    return out


def _need_dataset(config: dict, where: str, ds: str) -> None:
    if ds not in config["data"]:
        raise ConfigError(f"config: {where}: {ds!r} is not declared under data; declared: {few(config['data'])}")


def _need_model(config: dict, where: str, name: str, dataset: str) -> None:
    models = config["models"]
    if name not in models:
        raise ConfigError(f"config: {where}: model '{name}' is not declared under models; declared: {few(models)}")
    if models[name]["dataset"] != dataset:
        raise ConfigError(
            f"config: {where}: model '{name}' is a {models[name]['dataset']} model, but "
            f"{where.rsplit('.', 1)[0]} is for {dataset}; allowed: {dataset} models only"
        )


def _need_attack(config: dict, where: str, name: str) -> None:
    if name not in config["attacks"]:
        raise ConfigError(
            f"config: {where}: attack '{name}' is not declared under attacks; declared: {few(config['attacks'])}"
        )


def _check_models(config: dict) -> None:
    """Each model's dataset is declared and trained; its defense and hyperparameters are declared."""
    for i, ds in enumerate(config["datasets"]):
        _need_dataset(config, f"datasets.{i}", ds)
    for name, m in config["models"].items():
        _need_dataset(config, f"models.{name}.dataset", m["dataset"])
        check_model(name, m)
        if m["dataset"] in config["datasets"] and m["dataset"] not in config.get("training", {}):
            raise ConfigError(
                f"config: training.{m['dataset']}: missing, but models.{name} trains on {m['dataset']}; "
                "give steps, batch_size, optimizer and lr"
            )


def _check_attacks_and_schedules(config: dict) -> None:
    for name, a in config["attacks"].items():
        check_attack(f"attacks.{name}", a)
    for ds, t in config.get("training", {}).items():
        if t["schedule"] not in SCHEDULES:
            raise ConfigError(
                f"config: training.{ds}.schedule: {t['schedule']!r} is not allowed; allowed: {', '.join(SCHEDULES)}"
            )


def _check_table(config: dict, tname: str, t: dict) -> None:
    """A table's models, attacks and substitutes are declared, for its dataset."""
    for m in t["models"]:
        _need_model(config, f"tables.{tname}.models", m, t["dataset"])
    if t["kind"] == "whitebox":
        if "attacks" not in t:
            raise ConfigError(f"config: tables.{tname}.attacks: missing; a whitebox table needs a list of attacks")
        for a in t["attacks"]:
            _need_attack(config, f"tables.{tname}.attacks", a)
        return
    for key in ("attack", "substitutes"):
        if key not in t:
            raise ConfigError(
                f"config: tables.{tname}.{key}: missing; a transfer table needs 'attack' (one attack "
                "name) and 'substitutes' (a list of model names)"
            )
    _need_attack(config, f"tables.{tname}.attack", t["attack"])
    for m in t["substitutes"]:
        _need_model(config, f"tables.{tname}.substitutes", m, t["dataset"])


def _check_figure(config: dict, fname: str, f: dict) -> None:
    """A figure's models are declared; each panel follows an fgsm or ifgsm attack's direction."""
    for m in f["models"]:
        _need_model(config, f"figures.{fname}.models", m, f["dataset"])
    for panel, a in f["panels"].items():
        _need_attack(config, f"figures.{fname}.panels.{panel}", a)
        kind = config["attacks"][a]["kind"]
        if kind not in ("fgsm", "ifgsm"):
            raise ConfigError(
                f"config: figures.{fname}.panels.{panel}: attack '{a}' of kind {kind} is not "
                "allowed; allowed: attacks of kind fgsm or ifgsm (a loss surface follows their direction)"
            )


def check_relations(config: dict, base_dir: str | Path = ".") -> list[str]:
    """Cross-field checks; returns warnings (e.g. SVHN files absent), raises on errors."""
    _check_models(config)
    _check_attacks_and_schedules(config)
    for kind in ("tables", "figures"):
        for ename, e in config[kind].items():
            _need_dataset(config, f"{kind}.{ename}.dataset", e["dataset"])
    for tname, t in config["tables"].items():
        _check_table(config, tname, t)
    for fname, f in config["figures"].items():
        _check_figure(config, fname, f)
    return list(left_out_datasets(config, base_dir).values())
