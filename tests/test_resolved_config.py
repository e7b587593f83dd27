"""One resolved config: every default of the schema is applied once, at load, and stated nowhere else.

The workflow (Snakemake's ``validate``) and the library (:func:`e2sad.config.schema.resolve_config`) see the
same values, and no file of the library, the rules or the bench restates a schema default as a
``.get(key, literal)``."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from helpers_data import smoke_config
from snakemake.utils import validate

from e2sad.config.checked import load_checked
from e2sad.config.schema import (
    SCHEMA,
    apply_schema_defaults,
    load_yaml_strict,
    resolve_config,
    schema_default,
)
from e2sad.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def schema_defaults() -> dict[str, object]:
    """Dotted key (``*`` for a name) -> default, for every default the schema states."""
    root = load_yaml_strict(SCHEMA)
    out = {}

    def walk(node, path):
        while isinstance(node, dict) and "$ref" in node:
            target = root
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        if not isinstance(node, dict):
            return
        if "default" in node and path:
            out[".".join(path)] = node["default"]
        for key, sub in (node.get("properties") or {}).items():
            walk(sub, path + [key])
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], path + ["*"])

    walk(root, [])
    return out


def instances(config: dict, dotted: str):
    """Every (parent dict, key) that a dotted key with ``*`` names in ``config``."""
    parts = dotted.split(".")
    parents = [config]
    for part in parts[:-1]:
        nxt = []
        for p in parents:
            if part == "*":
                nxt += [v for v in p.values() if isinstance(v, dict)]
            elif isinstance(p.get(part), dict):
                nxt.append(p[part])
        parents = nxt
    return [(p, parts[-1]) for p in parents]


def minimal_config() -> dict:
    """The smoke config with every key that has a schema default removed."""
    cfg = smoke_config()
    for key in schema_defaults():
        for parent, leaf in instances(cfg, key):
            parent.pop(leaf, None)
    return cfg


def test_the_schema_states_the_defaults_the_code_relies_on():
    d = schema_defaults()
    assert d["data.*.pixel_range"] == [0, 255]
    assert d["data.*.normalization"] == "none"
    assert d["training.*.schedule"] == "constant"
    assert d["evaluation.batch_size"] == 500
    assert schema_default("figures.*.points") == d["figures.*.points"]
    with pytest.raises(KeyError):
        schema_default("models.*.dataset")  # required, no default


def test_a_minimal_config_resolves_to_every_schema_default():
    cfg = minimal_config()
    assert "pixel_range" not in cfg["data"]["mnist"] and "device" not in cfg["compute"]
    resolved = resolve_config(cfg)
    checked = 0
    for key, default in schema_defaults().items():
        for parent, leaf in instances(resolved, key):
            assert leaf in parent, f"{key}: not applied"
            assert parent[leaf] == default, f"{key}: {parent[leaf]!r} != schema default {default!r}"
            checked += 1
    assert checked > 30  # every dataset, training, figure and section entry was reached
    assert cfg == minimal_config()  # resolving copies, never edits the input


def test_snakemake_and_the_library_see_the_same_resolved_config():
    cfg = minimal_config()
    snake = copy.deepcopy(cfg)
    validate(snake, str(SCHEMA))  # Snakemake's own default-filling
    assert snake == apply_schema_defaults(cfg)
    resolved = load_checked(cfg, base_dir=REPO).config
    assert resolved == resolve_config(cfg)
    # the derived defaults (e2sad.config.DERIVED_DEFAULTS) come on top, nothing else differs
    assert resolved["tables"]["table_3_1"]["paper_table"] == "table_3_1"
    assert resolved["frontier"]["budget"] == cfg["frontier"]["models"][0]
    assert resolved["robustness"]["seeds"] == cfg["seeds"]
    for key in ("tables", "figures", "frontier", "robustness", "sanity"):
        snake.pop(key), resolved.pop(key)
    assert snake == resolved


def test_a_value_given_is_kept_and_a_bad_one_still_stops_with_one_line():
    cfg = minimal_config()
    cfg["compute"]["ckpt_every"] = 7
    assert resolve_config(cfg)["compute"]["ckpt_every"] == 7
    cfg["compute"]["ckpt_every"] = 0
    with pytest.raises(ConfigError, match=r"^config: compute\.ckpt_every: 0 is not allowed"):
        load_checked(cfg, base_dir=REPO)


def restated_defaults(paths) -> list[str]:
    """Lines that restate a schema default: ``.get("<key with a default>", <anything>)``."""
    keys = sorted({k.rsplit(".", 1)[-1] for k in schema_defaults()})
    alternatives = "|".join(map(re.escape, keys))
    pattern = re.compile(r"""\.get\(\s*["'](""" + alternatives + r""")["']\s*,""")
    hits = []
    for path in paths:
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                hits.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    return hits


def test_no_schema_default_is_restated_in_the_plan_the_checks_the_rules_or_the_bench():
    files = [
        REPO / "Snakefile",
        *sorted((REPO / "e2sad" / "config").glob("*.py")),
        *sorted((REPO / "e2sad" / "plan").glob("*.py")),
        *sorted((REPO / "e2sad" / "science").rglob("*.py")),
        *sorted((REPO / "workflow" / "rules").glob("*.smk")),
        *sorted((REPO / "bench").glob("*.py")),
    ]
    assert restated_defaults(files) == []


def test_the_restated_default_guard_finds_one(tmp_path):
    bad = REPO / "tests" / "_restated_probe.py"
    try:
        bad.write_text('lo, hi = d.get("pixel_range", [0, 255])\n')
        assert len(restated_defaults([bad])) == 1
    finally:
        bad.unlink()
