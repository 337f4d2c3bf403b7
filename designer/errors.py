"""Error hierarchy of the library.

Three tiers: bad configuration raises :class:`DesignerInputError`
(a ``ValueError``) naming the offending field; invariants inside compiled code are returned as
result codes; long computations raise :class:`NumericalFailure` that the service maps to a job
error code.
"""

from __future__ import annotations


class DesignerError(Exception):
    """Base class of every error raised on purpose by ``designer``."""


class DesignerInputError(DesignerError, ValueError):
    """Bad input: names the offending ``field`` (a dotted path) and says what is wrong."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class NumericalFailure(DesignerError, RuntimeError):
    """A computation did not converge or produced non-finite values."""


class Cancelled(DesignerError):
    """A long computation stopped between steps because its caller asked it to."""
