"""Errors a user can act on. The CLI prints them as one line, without a traceback."""


class DlpipeError(Exception):
    """A problem with the user's input or environment, stated so they can fix it."""


class ConfigError(DlpipeError, ValueError):
    """A config that cannot work: a key, a value, or a task that does not fit its data.

    The message names the key, the value received and what was expected; ``dlpipe`` exits 2.
    """
