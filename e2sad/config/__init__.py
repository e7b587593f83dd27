"""The study configuration, checked before any job runs (one line per problem, naming the key, the
bad value and what is allowed: :class:`e2sad.errors.ConfigError`).

Four modules, each importing only the ones above it in this list:

- :mod:`.schema`: the strict YAML loader, the schema's defaults and allowed values, the resolved config;
- :mod:`.messages`: a schema violation in words;
- :mod:`.relations`: what the schema cannot say (declared defenses, attacks, datasets, tables, figures);
- :mod:`.sections`: the science sections (ablation, robustness, sanity, frontier);
- :mod:`.checked`: :func:`~.checked.load_checked`, the entry point.

Nothing is imported here, so that ``e2sad.config.schema`` can be read by the compute below the
checks (train asks the schema for allowed values) without loading them.
"""
