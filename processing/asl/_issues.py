"""The result types of validation: a list of issues, each naming its state and field."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One problem: a stable ``code``, the state and field it concerns, and a message."""

    code: str
    message: str
    state: str | None = None
    field: str | None = None
    pointer: str = ""

    def __str__(self) -> str:
        where = self.state if self.state is not None else "<state machine>"
        if self.field:
            where += f".{self.field}"
        return f"{where}: {self.message} [{self.code}]"


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """The outcome of :func:`validate`: valid when there are no errors (warnings are advice)."""

    errors: tuple[ValidationIssue, ...] = ()
    warnings: tuple[ValidationIssue, ...] = ()

    @property
    def valid(self) -> bool:
        """Whether the document has no errors."""
        return not self.errors

    def __bool__(self) -> bool:
        return self.valid

    def find(self, *, state: str | None = None, field: str | None = None) -> list[ValidationIssue]:
        """The errors about a given state and/or field (a field matches by its first segment)."""
        return [
            issue
            for issue in self.errors
            if (state is None or issue.state == state)
            and (field is None or (issue.field or "").split(".")[0].split("[")[0] == field)
        ]


def escape_pointer(name: str) -> str:
    """Escape a key for a JSON pointer (RFC 6901)."""
    return name.replace("~", "~0").replace("/", "~1")
