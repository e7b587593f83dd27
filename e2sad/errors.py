"""User-facing errors: one line naming the bad value and what is allowed."""


class E2sadError(Exception):
    """An error caused by the user's input (a file, a value, a config key).

    The command line prints ``e2sad: error: <message>`` and exits with status 2,
    never a traceback.  The message must name the offending file or value and
    say what is allowed.
    """


class DataError(E2sadError):
    """A data file is missing, truncated or not in the expected format."""


class ConfigError(E2sadError):
    """A configuration value is invalid."""
