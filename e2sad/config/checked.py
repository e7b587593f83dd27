"""The config check's one entry point: duplicated YAML keys, the schema, the relations, the science
sections and the data's sizes, in that order, on a config resolved once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..data import check_sizes
from .messages import check_schema
from .relations import check_relations, left_out_datasets
from .schema import load_yaml_strict, resolve_config
from .sections import check_science, released_absent


def check_config(
    config: dict, schema_path: str | Path | None = None, base_dir: str | Path = ".", config_files=()
) -> list[str]:
    """Duplicated YAML keys, schema, relations and the science sections.  Returns warnings."""
    return _checked(config, schema_path, base_dir, config_files)[1]


def _checked(config: dict, schema_path, base_dir, config_files) -> tuple[dict, list[str]]:
    for f in config_files:
        load_yaml_strict(f)
    check_schema(config, schema_path)
    resolved = resolve_config(config, schema_path)
    warnings = check_relations(resolved, base_dir)
    warnings += check_science(resolved)
    warnings += list(released_absent(resolved, base_dir).values())
    return resolved, warnings


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
    """Check ``config`` (duplicated YAML keys, schema, relations, the science sections), resolve it
    once, and check every number of images it asks for against the data's files where their
    headers can be read (:func:`e2sad.data.check_sizes`).  Raises :class:`ConfigError` with one
    line on the first problem.  The plan's :func:`e2sad.plan.load_study` adds the derived models."""
    resolved, warnings = _checked(config, schema_path, base_dir, config_files)
    check_sizes(resolved, base_dir)
    left_out = left_out_datasets(resolved, base_dir)
    active = [d for d in resolved["datasets"] if d not in left_out]
    return CheckedConfig(resolved, active, warnings)
