"""Checks of the study configuration: the JSON schema first, then the relations
between keys, all in this one place.  Each problem is one line naming the key,
the bad value and what is allowed (:class:`e2sad.errors.ConfigError`).

The workflow calls :func:`check_config` before Snakemake's own ``validate`` so
that a bad config stops before any job runs.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import ConfigError

#: the config's schema: its shape and every default (workflow/schemas, the Snakemake community layout)
SCHEMA = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"

#: keys of a model that are not its defense's hyperparameters
MODEL_META = ("dataset", "defense", "smoothing", "column", "label", "train_steps", "train_recipe")
#: keys of an attack entry that are not the attack's hyperparameters
ATTACK_META = ("kind", "label")


class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(
                f"{node.start_mark.name}: key '{key}' appears twice (lines {seen[key] + 1} and "
                f"{key_node.start_mark.line + 1}); names must be unique"
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_strict(path: str | Path) -> dict:
    """Load a YAML file, refusing duplicated keys (two models with one name)."""
    path = Path(path)
    try:
        with open(path) as fh:
            return yaml.load(fh, Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None


def _schema(schema_path: str | Path | None = None) -> dict:
    """The schema, read once per process and path (a job asks it for several defaults)."""
    return copy.deepcopy(_read_schema(str(schema_path or SCHEMA)))


@functools.lru_cache(maxsize=4)
def _read_schema(path: str) -> dict:
    return load_yaml_strict(path)


def schema_default(key: str, schema_path: str | Path | None = None):
    """The schema's default of a dotted key; ``*`` stands for a name (``data.*.pixel_range``).

    The one place where code that is not handed a resolved config (a CLI option, a bench script)
    finds a default, so that no default of the schema is restated as a literal."""
    root = _schema(schema_path)
    node = root
    for part in key.split("."):
        node = _resolve(node, root)
        props = node.get("properties", {})
        if part in props:
            node = props[part]
        elif part == "*" and isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            raise KeyError(f"{key}: no such key in the config schema")
    node = _resolve(node, root) if "default" not in node else node
    if "default" not in node:
        raise KeyError(f"{key}: the config schema gives no default")
    return node["default"]


def apply_schema_defaults(config: dict, schema_path: str | Path | None = None) -> dict:
    """A copy of ``config`` with every default of the schema applied, at every depth (a dataset's
    ``pixel_range``, ``compute.ckpt_every``, a figure's ``points``, ...): what Snakemake's
    ``validate`` fills in too (jsonschema's documented "extend with default" recipe).  Errors are
    :func:`check_schema`'s to report; this only fills what is absent."""
    import copy

    import jsonschema

    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if "default" in sub and prop not in instance:
                    instance[prop] = copy.deepcopy(sub["default"])
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    filling = jsonschema.validators.extend(base, {"properties": set_defaults})
    resolved = copy.deepcopy(config)
    for _ in filling(_schema(schema_path)).iter_errors(resolved):
        pass
    return resolved


#: defaults that depend on other keys (the schema's descriptions say so): key -> how it is derived
DERIVED_DEFAULTS = {
    "tables.*.paper_table": "the table's own name",
    "figures.*.title": "the figure's own name",
    "frontier.budget": "the first of frontier.models",
    "robustness.seeds, sanity.seeds, frontier.seeds": "the study's seeds",
}


def resolve_config(config: dict, schema_path: str | Path | None = None) -> dict:
    """The config as the study reads it: every schema default applied (:func:`apply_schema_defaults`),
    then the :data:`DERIVED_DEFAULTS`.  Loaded once: the workflow, the study plan and the tests read
    this resolved form, so that each default is stated in one place."""
    resolved = apply_schema_defaults(config, schema_path)
    for name, t in (resolved.get("tables") or {}).items():
        t.setdefault("paper_table", name)
    for name, f in (resolved.get("figures") or {}).items():
        f.setdefault("title", name)
    if resolved.get("frontier") and resolved["frontier"].get("models"):
        resolved["frontier"].setdefault("budget", resolved["frontier"]["models"][0])
    for section in ("robustness", "sanity", "frontier"):
        if resolved.get(section) and "seeds" in resolved:
            resolved[section].setdefault("seeds", list(resolved["seeds"]))
    return resolved


def _path(err) -> str:
    parts = [str(p) for p in err.absolute_path]
    return ".".join(parts) if parts else "(top level)"


def _join(where: str, key: str) -> str:
    return key if where == "(top level)" else f"{where}.{key}"


def _resolve(sub: dict, root: dict) -> dict:
    """Follow a local ``$ref`` (``#/$defs/name``) of the schema."""
    while isinstance(sub, dict) and "$ref" in sub and root:
        node = root
        for part in sub["$ref"].lstrip("#/").split("/"):
            node = node[part]
        sub = {**node, **{k: v for k, v in sub.items() if k != "$ref"}}
    return sub


def _describe(sub: dict, root: dict) -> str:
    """A short English description of what a (sub)schema allows."""
    sub = _resolve(sub, root)
    if "enum" in sub:
        return "one of " + ", ".join(map(str, sub["enum"]))
    t = sub.get("type")
    if t == "null":
        return "null"
    if t in ("number", "integer"):
        lo = sub.get("minimum", sub.get("exclusiveMinimum"))
        hi = sub.get("maximum", sub.get("exclusiveMaximum"))
        if lo is None and hi is None:
            return f"an {t}" if t == "integer" else "a number"
        lb = "[" if "minimum" in sub else "("
        rb = "]" if "maximum" in sub else ")"
        noun = "an integer" if t == "integer" else "a number"
        return f"{noun} in {lb}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}{rb}"
    return t or "a valid value"


def _range(s: dict) -> str:
    lo = s.get("minimum", s.get("exclusiveMinimum"))
    hi = s.get("maximum", s.get("exclusiveMaximum"))
    lb = "[" if "minimum" in s else "("
    rb = "]" if "maximum" in s else ")"
    return f"{lb}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}{rb}"


#: schema patterns, in words
_PATTERNS = {
    "^(auto|cpu|cuda(:[0-9]+)?)$": "allowed: auto, cpu, cuda, cuda:N",
    "^[A-Za-z0-9_.-]+$": "names may hold only letters, digits, '_', '.' and '-'",
}


def _schema_message(err, root: dict | None = None) -> str:
    v = err.validator
    where = _path(err)
    val = err.instance
    s = err.schema
    if v == "type":
        expected = " or ".join(s["type"]) if isinstance(s["type"], list) else s["type"]
        return f"{where}: {val!r} has type {type(val).__name__}, expected {expected}"
    if v == "enum":
        return f"{where}: {val!r} is not allowed; allowed: {', '.join(map(str, s['enum']))}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{where}: {val!r} is not allowed; must be in {_range(s)}"
    if v == "required":
        missing = [k for k in s.get("required", []) if isinstance(val, dict) and k not in val]
        key = missing[0] if missing else "?"
        return f"{_join(where, key)}: missing; required keys here: {', '.join(s.get('required', []))}"
    if v == "additionalProperties":
        allowed = list(s.get("properties", {}))
        extra = sorted(k for k in val if k not in allowed) if isinstance(val, dict) else []
        key = extra[0] if extra else "?"
        shown = f" (value {val[key]!r})" if extra else ""
        return f"{_join(where, key)}: unknown key{shown}; allowed keys here: {', '.join(allowed) or 'none'}"
    if v == "uniqueItems":
        seen, dup = [], None
        for x in val:
            if x in seen:
                dup = x
                break
            seen.append(x)
        return f"{where}: {val!r} lists {dup!r} twice; each entry must appear once"
    if v == "oneOf":
        alts = [_describe(x, root or {}) for x in s["oneOf"]]
        return f"{where}: {val!r} is not allowed; must be {' or '.join(alts)}"
    if v == "pattern":
        allowed = _PATTERNS.get(s["pattern"], f"must match the pattern {s['pattern']}")
        if "propertyNames" in err.schema_path:
            return f"{where}: the name {val!r} is not allowed; {allowed}"
        return f"{where}: {val!r} is not allowed; {allowed}"
    if v in ("minLength", "minItems", "minProperties"):
        n = s[v]
        if v == "minLength":
            word = "character" if n == 1 else "characters"
        else:
            word = "entry" if n == 1 else "entries"
        return f"{where}: {val!r} is not allowed; needs at least {n} {word}"
    return f"{where}: {err.message}"


def check_schema(config: dict, schema_path: str | Path) -> None:
    import jsonschema

    schema = load_yaml_strict(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path)))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        deepest = max(errors, key=lambda e: len(list(e.absolute_path)))
        chosen = deepest if len(list(deepest.absolute_path)) >= len(list(best.absolute_path)) else best
        raise ConfigError(f"config: {_schema_message(chosen, schema)}")


def _few(names, n: int = 6) -> str:
    names = list(names)
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else "")


def _declared(registry, name: str, where: str, given: dict, noun: str) -> None:
    """A model's defense (or an attack's kind) and its hyperparameters, checked by their declaration."""
    try:
        registry.get_decl(name, where).check(given, where.rsplit(".", 1)[0], noun)
    except ConfigError as exc:
        raise ConfigError(f"config: {exc}") from None


def check_model(name: str, m: dict) -> None:
    """One model: its defense is declared and its hyperparameters are the declaration's."""
    from .defenses import DEFENSES

    hp = {k: v for k, v in m.items() if k not in MODEL_META}
    _declared(DEFENSES, m["defense"], f"models.{name}.defense", hp, "hyperparameter")


def check_attack(where: str, a: dict) -> None:
    """One attack entry: its kind is declared and its parameters are the declaration's."""
    from .attacks import ATTACKS

    params = {k: v for k, v in a.items() if k not in ATTACK_META}
    _declared(ATTACKS, a["kind"], f"{where}.kind", params, "parameter")


def dataset_folders(decl: dict, base_dir: str | Path = ".") -> list[Path]:
    """The folders a dataset's ``src`` names (one, or a list tried in order), relative to ``base_dir``."""
    srcs = decl["src"] if isinstance(decl["src"], list) else [decl["src"]]
    return [Path(base_dir) / s for s in srcs]


def dataset_folder(decl: dict, base_dir: str | Path = ".") -> Path:
    """The first folder of ``src`` that holds the dataset's files, else the first one (downloads go there)."""
    from .data import FORMATS

    folders = dataset_folders(decl, base_dir)
    files = FORMATS[decl["format"]][1]
    return next((f for f in folders if all((f / n).is_file() for n in files)), folders[0])


def dataset_absent(name: str, d: dict, base_dir: str | Path = ".") -> str | None:
    """One dataset declaration (``data.<name>``): its format, network and normalization are the
    library's, and its files are there (or download is set).  Returns ``None`` when the dataset can
    be used, one line saying why it is left out when it is declared ``optional`` and its files are
    absent; raises :class:`ConfigError` for any other problem."""
    from .data import FORMATS
    from .models import NETWORKS, NORMALIZATIONS

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
        raise ConfigError(f"config: {where}: {ds!r} is not declared under data; declared: {_few(config['data'])}")


def _need_model(config: dict, where: str, name: str, dataset: str) -> None:
    models = config["models"]
    if name not in models:
        raise ConfigError(f"config: {where}: model '{name}' is not declared under models; declared: {_few(models)}")
    if models[name]["dataset"] != dataset:
        raise ConfigError(
            f"config: {where}: model '{name}' is a {models[name]['dataset']} model, but "
            f"{where.rsplit('.', 1)[0]} is for {dataset}; allowed: {dataset} models only"
        )


def _need_attack(config: dict, where: str, name: str) -> None:
    if name not in config["attacks"]:
        raise ConfigError(
            f"config: {where}: attack '{name}' is not declared under attacks; declared: {_few(config['attacks'])}"
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
    from .train import SCHEDULES

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


def check_config(
    config: dict, schema_path: str | Path, base_dir: str | Path = ".", config_files: list[str | Path] = ()
) -> list[str]:
    """Everything in order: duplicated YAML keys, schema, relations.  Returns warnings."""
    for f in config_files:
        load_yaml_strict(f)
    check_schema(config, schema_path)
    return check_relations(resolve_config(config, schema_path), base_dir)


@dataclass(frozen=True)
class CheckedConfig:
    """The result of the config check: the resolved config (every schema default applied), the
    datasets the study runs (those of ``datasets`` whose files are there) and the notes to print."""

    config: dict
    active: list[str]
    warnings: list[str]


def load_checked(
    config: dict, base_dir: str | Path = ".", config_files: list[str | Path] = (), schema_path: str | Path | None = None
) -> CheckedConfig:
    """The one entry point of the workflow and of the tests: check ``config`` (duplicated YAML
    keys, schema, relations, the science sections), resolve it, and check every number of images
    it asks for against the data's files where their headers can be read
    (:func:`e2sad.data.check_sizes`).  Raises :class:`ConfigError`
    with one line on the first problem."""
    from .data import check_sizes

    warnings = check_config(config, schema_path or SCHEMA, base_dir, config_files)
    warnings += check_science(config, base_dir)
    resolved = resolve_config(config, schema_path)
    check_sizes(resolved, base_dir)
    left_out = left_out_datasets(resolved, base_dir)
    active = [d for d in resolved["datasets"] if d not in left_out]
    return CheckedConfig(resolved, active, warnings)


# --------------------------------------------------------------------------- #
# Scientific-validity sections (ablation, robustness, sanity, frontier; e2sad/science/)
# --------------------------------------------------------------------------- #


def _need_table(config: dict, where: str, tname: str, kind: str | None = None) -> None:
    tables = config["tables"]
    if tname not in tables:
        raise ConfigError(f"config: {where}: table '{tname}' is not declared under tables")
    if kind and tables[tname]["kind"] != kind:
        raise ConfigError(f"config: {where}: table '{tname}' is a {tables[tname]['kind']} table, need {kind}")


def _check_ablation(config: dict, ab: dict, base_dir) -> list[str]:
    """The second-step ablation: an e2sad base model in a white-box table, declared variants; the
    derived models (``<base>__<variant>``) pass the same checks as declared ones."""
    import re

    from .defenses import SECOND_STEP
    from .science import ablation_models, ablation_variant_models

    models, base = config["models"], ab["base"]
    if base not in models:
        raise ConfigError(f"config: ablation.base: model '{base}' is not declared under models")
    if models[base]["defense"] != "e2sad":
        raise ConfigError(
            f"config: ablation.base: model '{base}' has defense '{models[base]['defense']}'; "
            "the second-step ablation needs an e2sad model"
        )
    for i, v in enumerate(ab["variants"]):
        if v not in SECOND_STEP.choices:
            raise ConfigError(
                f"config: ablation.variants.{i}: {v!r} is not allowed; allowed: {', '.join(SECOND_STEP.choices)}"
            )
    tname = ab["table"]
    _need_table(config, "ablation.table", tname, "whitebox")
    if base not in config["tables"][tname]["models"]:
        raise ConfigError(f"config: ablation.table: table '{tname}' does not list the base model '{base}'")
    warnings = []
    if "sigma" in ab and "random_start" not in ab["variants"]:
        warnings.append("ablation.sigma is set but 'random_start' is not among ablation.variants; it is unused")
    derived = ablation_models(config)
    clash = sorted(set(derived) & set(models))
    if clash:
        raise ConfigError(
            f"config: models.{clash[0]}: name taken by the ablation of '{base}' (variant model); rename it"
        )
    for v, name in ablation_variant_models(config).items():
        if name != base and not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ConfigError(f"config: ablation: derived model name {name!r} (variant {v}) is not allowed")
    check_relations({**config, "models": {**models, **derived}}, base_dir)
    return warnings


def _check_seed_subsets(config: dict) -> None:
    for section in ("robustness", "sanity"):
        sub = config.get(section) or {}
        stray = [x for x in sub.get("seeds", []) if x not in config["seeds"]]
        if stray:
            raise ConfigError(
                f"config: {section}.seeds: seed {stray[0]} is not in seeds {config['seeds']}; "
                f"{section} runs on models that the study trains, so list a subset of seeds"
            )


def _check_robustness(config: dict, rb: dict) -> list[str]:
    """The stronger evaluation: white-box tables, a reference attack and new attacks at its eps."""
    attacks = config["attacks"]
    for t in rb["tables"]:
        _need_table(config, "robustness.tables", t, "whitebox")
    for where, a in [("robustness.reference", rb["reference"])] + [("robustness.also", a) for a in rb["also"]]:
        if a not in attacks:
            raise ConfigError(f"config: {where}: attack '{a}' is not declared under attacks")
        if attacks[a]["kind"] == "none":
            raise ConfigError(f"config: {where}: attack '{a}' is no attack; name a white-box attack")
    warnings = []
    for name, a in rb["attacks"].items():
        where = f"robustness.attacks.{name}"
        if name in attacks:
            raise ConfigError(f"config: {where}: name already used under attacks; give it another name")
        check_attack(where, a)
        if a["kind"] == "pgd" and a.get("restarts", 1) < 5:
            warnings.append(f"{where}: PGD with {a.get('restarts', 1)} restart(s); the study asks for >= 5")
    ref_eps = attacks[rb["reference"]].get("eps")
    for where, a in [(f"robustness.attacks.{n}", x) for n, x in rb["attacks"].items()] + [
        ("robustness.also", attacks[n]) for n in rb["also"]
    ]:
        if abs(float(a["eps"]) - float(ref_eps)) > 1e-9:
            raise ConfigError(
                f"config: {where}: eps {a['eps']} differs from the reference attack's eps {ref_eps}; "
                "the strongest attack is taken over one budget"
            )
    return warnings


def _check_sanity(config: dict, sn: dict) -> list[str]:
    """The sanity checks: declared tables, an eps sweep that grows toward 1, k for iterative sweeps."""
    for t in sn["tables"]:
        _need_table(config, "sanity.tables", t)
    eps = sorted(sn["eps"])
    if eps[-1] < 0.5:
        raise ConfigError(
            f"config: sanity.eps: largest eps {eps[-1]} is below 0.5; the sweep must grow toward 1 "
            "(accuracy should fall to about 0)"
        )
    for name, s in sn["sweeps"].items():
        if s["kind"] in ("ifgsm", "pgd") and "k" not in s:
            raise ConfigError(f"config: sanity.sweeps.{name}: kind '{s['kind']}' needs k")
    kinds = {s["kind"] for s in sn["sweeps"].values()}
    if "fgsm" in kinds and kinds & {"ifgsm", "pgd"}:
        return []
    return [
        "sanity.sweeps: without both a single-step (fgsm) and an iterative (ifgsm, pgd) sweep the "
        "'iterative >= single-step' check uses the tables' attacks only"
    ]


def check_science(config: dict, base_dir: str | Path = ".") -> list[str]:
    """Cross-field checks of ``ablation``, ``robustness``, ``frontier`` and ``sanity``.

    The models the ablation derives (``<base>__<variant>``) are put beside the declared ones and go
    through :func:`check_relations` like every declared model.  Returns warnings; raises
    :class:`ConfigError` on errors."""
    config = resolve_config(config)
    warnings: list[str] = []
    if config.get("ablation"):
        warnings += _check_ablation(config, config["ablation"], base_dir)
    _check_seed_subsets(config)
    if config.get("robustness"):
        warnings += _check_robustness(config, config["robustness"])
    if config.get("frontier"):
        warnings += _check_frontier(config, config["frontier"])
    if config.get("sanity"):
        warnings += _check_sanity(config, config["sanity"])
    return warnings


def _check_frontier(config: dict, fr: dict) -> list[str]:
    """The frontier section: its models, budget, attacks and dataset are declared and agree."""
    from .defenses import step_cost
    from .science import frontier_models

    models, data = config["models"], config["data"]
    known = {**config["attacks"], **((config.get("robustness") or {}).get("attacks") or {})}
    if fr["dataset"] not in data:
        raise ConfigError(f"config: frontier.dataset: dataset '{fr['dataset']}' is not declared under data")
    for i, m in enumerate(fr["models"]):
        if m not in models:
            raise ConfigError(f"config: frontier.models.{i}: model '{m}' is not declared under models")
        if models[m]["dataset"] != fr["dataset"]:
            raise ConfigError(
                f"config: frontier.models.{i}: model '{m}' is trained on '{models[m]['dataset']}', "
                f"not on the frontier's dataset '{fr['dataset']}'"
            )
    budget = fr["budget"]
    if budget not in fr["models"]:
        raise ConfigError(f"config: frontier.budget: '{budget}' is not one of frontier.models ({_few(fr['models'])})")
    for i, a in enumerate(fr["attacks"]):
        if a not in known:
            raise ConfigError(
                f"config: frontier.attacks.{i}: attack '{a}' is not declared under attacks or robustness.attacks"
            )
    for key in ("robust", "reference"):
        if key in fr and fr[key] not in fr["attacks"]:
            raise ConfigError(f"config: frontier.{key}: '{fr[key]}' is not one of frontier.attacks")
    for i, s in enumerate(fr["seeds"]):
        if s not in config["seeds"]:
            raise ConfigError(f"config: frontier.seeds.{i}: seed {s} is not in seeds {config['seeds']}")

    snap = fr.get("snapshot_attacks") or []
    for i, a in enumerate(snap):
        if a not in known:
            raise ConfigError(
                f"config: frontier.snapshot_attacks.{i}: attack '{a}' is not declared "
                "under attacks or robustness.attacks"
            )
    if fr.get("snapshots"):
        kinds = [known[a]["kind"] for a in snap]
        if "fgsm" not in kinds or not set(kinds) & {"ifgsm", "pgd", "apgd_ce", "apgd_t"}:
            raise ConfigError(
                f"config: frontier.snapshot_attacks: {snap} needs one single-step (fgsm) and one iterative attack "
                "(ifgsm, pgd, apgd_ce, apgd_t) to flag catastrophic overfitting"
            )

    recipes = fr.get("recipes") or {}
    for name, r in recipes.items():
        if name not in fr["models"]:
            raise ConfigError(
                f"config: frontier.recipes.{name}: model '{name}' is not one of frontier.models ({_few(fr['models'])})"
            )
        if "schedule" in r:
            from .train import lr_at

            try:
                lr_at(0, int(r["steps"]), float(r.get("lr", 1e-3)), r["schedule"])
            except ConfigError as e:
                raise ConfigError(f"config: frontier.recipes.{name}.schedule: {e}") from None
    warnings = []
    if "own_recipe" in fr["protocols"] and not recipes:
        warnings.append("frontier.protocols: own_recipe without frontier.recipes adds no row")

    def cost(m):
        merge = config["compute"]["merge_clean"]
        return config["training"][m["dataset"]]["batch_size"] * step_cost(m["defense"], m, merge)

    derived = frontier_models(config, cost)
    clash = sorted(set(derived) & set(models))
    if clash:
        raise ConfigError(f"config: models.{clash[0]}: name taken by the frontier's derived model; rename it")
    return warnings
