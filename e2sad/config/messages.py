"""The wording of config errors: a schema violation as one line naming the key, the bad value and
what is allowed (:class:`e2sad.errors.ConfigError`), never jsonschema's own paragraph."""

from __future__ import annotations

from pathlib import Path

import jsonschema

from ..errors import ConfigError
from .schema import _resolve, _schema


def _path(err) -> str:
    parts = [str(p) for p in err.absolute_path]
    return ".".join(parts) if parts else "(top level)"


def _join(where: str, key: str) -> str:
    return key if where == "(top level)" else f"{where}.{key}"


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


def check_schema(config: dict, schema_path: str | Path | None = None) -> None:
    """The config against the schema; the first problem (the deepest) as one line."""
    schema = _schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path)))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        deepest = max(errors, key=lambda e: len(list(e.absolute_path)))
        chosen = deepest if len(list(deepest.absolute_path)) >= len(list(best.absolute_path)) else best
        raise ConfigError(f"config: {_schema_message(chosen, schema)}")


def few(names, n: int = 6) -> str:
    """At most ``n`` names, then how many in all (a line that lists what is declared)."""
    names = list(names)
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else "")
