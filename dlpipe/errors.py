"""Errors a user can act on. The CLI prints them as one line, without a traceback."""


class DlpipeError(Exception):
    """A problem with the user's input or environment, stated so they can fix it."""
