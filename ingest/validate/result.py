"""The result every validator returns: like rio-cogeo's ``(is_valid, errors, warnings)``."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ValidationResult"]


class ValidationResult(NamedTuple):
    """Outcome of a validation; unpacks like rio-cogeo's ``cog_validate`` tuple.

    Validators return this and never raise for a bad file: a broken input is an answer
    (``is_valid=False`` with reasons), not an exceptional condition.
    """

    is_valid: bool
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_lists(cls, errors: list[str], warnings: list[str]) -> ValidationResult:
        """Build a result whose validity is simply "no errors"."""
        return cls(not errors, tuple(errors), tuple(warnings))
