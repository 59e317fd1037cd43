"""The kinds of error a user can cause, as opposed to bugs.

All are caught once, in the CLI, and printed as one line on stderr, with exit code 2 (3 for
:class:`StudentBelowBar`, a finished run whose result misses the bar the user set). Their message
always names the file, and where it can the key path or line, the bad value and what is allowed.
"""


class DistillError(Exception):
    """Base class: a problem with the user's input, not a bug."""


class ConfigError(DistillError):
    """A YAML config is malformed, has an unknown key or a value out of range."""


class DataError(DistillError):
    """A data file is missing, empty, undecodable or has the wrong columns or labels."""


class OutputError(DistillError):
    """The output folder cannot be written (unwritable, disk full); what is already there is intact."""


class StudentBelowBar(DistillError):
    """The run finished, but the student's dev accuracy is below student.yaml's ``fail_below``.

    The student was saved and metrics.json written (``metrics``, with its ``warnings``); the CLI
    prints the summary, then this one line, and exits with code 3."""

    def __init__(self, message: str, metrics: dict | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.metrics = metrics or {}
        self.reason = reason or message  # the shortfall alone, without where the student was saved


def first_line(e: BaseException) -> str:
    """An exception's first line of text (its type's name when it has none): what a one-line error quotes."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
