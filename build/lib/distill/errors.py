"""The two kinds of error a user can cause, as opposed to bugs.

Both are caught once, in the CLI, and printed as one line on stderr with exit code 2. Their message
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
