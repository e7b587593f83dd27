"""Loading and resolving the study configuration: the strict YAML loader, the schema
(``workflow/schemas/config.schema.yaml``, the only home of a default or an allowed value) and the
resolved config that every reader takes (each default applied once per load)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import jsonschema
import yaml

from ..errors import ConfigError

#: the config's schema: its shape and every default (workflow/schemas, the Snakemake community layout)
SCHEMA = Path(__file__).resolve().parent.parent.parent / "workflow" / "schemas" / "config.schema.yaml"
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


def _resolve(sub: dict, root: dict) -> dict:
    """Follow a local ``$ref`` (``#/$defs/name``) of the schema."""
    while isinstance(sub, dict) and "$ref" in sub and root:
        node = root
        for part in sub["$ref"].lstrip("#/").split("/"):
            node = node[part]
        sub = {**node, **{k: v for k, v in sub.items() if k != "$ref"}}
    return sub


def _node(key: str, schema_path: str | Path | None = None) -> dict:
    """The (resolved) schema node of a dotted key; ``*`` stands for a name (``data.*.pixel_range``)."""
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
    return node if "default" in node else _resolve(node, root)


def schema_default(key: str, schema_path: str | Path | None = None):
    """The schema's default of a dotted key; ``*`` stands for a name (``data.*.pixel_range``).

    The one place where code that is not handed a resolved config (a CLI option, a bench script)
    finds a default, so that no default of the schema is restated as a literal."""
    node = _node(key, schema_path)
    if "default" not in node:
        raise KeyError(f"{key}: the config schema gives no default")
    return node["default"]


def schema_enum(key: str, schema_path: str | Path | None = None) -> tuple:
    """The values the schema allows for a dotted key (its ``enum``): the one home of an allowed
    value that code also checks (a precision, an optimizer, a compile mode)."""
    node = _node(key, schema_path)
    if "enum" not in node:
        raise KeyError(f"{key}: the config schema gives no list of allowed values")
    return tuple(node["enum"])


def apply_schema_defaults(config: dict, schema_path: str | Path | None = None) -> dict:
    """A copy of ``config`` with every default of the schema applied, at every depth (a dataset's
    ``pixel_range``, ``compute.ckpt_every``, a figure's ``points``, ...): what Snakemake's
    ``validate`` fills in too (jsonschema's documented "extend with default" recipe).  Errors are
    :func:`e2sad.config.messages.check_schema`'s to report; this only fills what is absent."""
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
