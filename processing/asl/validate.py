"""Validation of ASL documents before they run: returns every problem, never raises.

Two layers: our own structural checks (transitions, reachability, terminals, paths, templates,
Retry/Catch, nested branches and item processors; each problem names its state and field), and
the official JSON schemas of asl-validator, evaluated with ``jsonschema``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

from processing.asl._issues import ValidationIssue, ValidationResult
from processing.asl._schema import schema_issues
from processing.asl._structure import structure_issues

__all__ = [
    "MAX_STATES",
    "SCHEMAS_ENV",
    "ValidationIssue",
    "ValidationResult",
    "default_schema_dir",
    "validate",
]

SCHEMAS_ENV: Final = "STACWORKS_ASL_SCHEMAS"
#: The most states a machine may have, nested branches and item processors included: the
#: JSON-schema layer costs about a millisecond a state, and a body within the size limit holds
#: hundreds of thousands (a minute of one core for a single anonymous-sized request).
MAX_STATES: Final = 1000


def validate(
    definition: Any, *, schema: bool = True, schema_dir: str | os.PathLike[str] | None = None
) -> ValidationResult:
    """Check an ASL document; return every error found (see :class:`ValidationResult`).

    Args:
        definition: the parsed document.
        schema: also validate against the official JSON schemas.
        schema_dir: where the schemas are (default: :func:`default_schema_dir`).
    """
    count = count_states(definition)
    if count > MAX_STATES:
        return ValidationResult((ValidationIssue(
            "TOO_MANY_STATES", f"{count} states (nested ones included) are over the limit of "
            f"{MAX_STATES}; split the workflow", None, "States", "/States"),), ())
    errors, warnings = structure_issues(definition)
    if schema:
        directory = Path(schema_dir) if schema_dir is not None else default_schema_dir()
        if not (directory / "state-machine.json").is_file():
            warnings.append(
                ValidationIssue(
                    "SCHEMAS_UNAVAILABLE",
                    f"the ASL JSON schemas are not at {directory}; set {SCHEMAS_ENV} to check them",
                )
            )
        else:
            # The schemas mostly restate what the structural checks already said, less
            # precisely: report them only for states (or the machine) found sound so far.
            flagged = {issue.state for issue in errors}
            for issue in schema_issues(definition, str(directory.resolve())):
                if issue.state not in flagged:
                    errors.append(issue)
    return ValidationResult(tuple(errors), tuple(warnings))


def count_states(definition: Any) -> int:
    """States of a machine and of every branch and item processor in it (no recursion: the
    document may be as deep as the request limits allow)."""
    count = 0
    machines = [definition]
    while machines:
        machine = machines.pop()
        states = machine.get("States") if isinstance(machine, dict) else None
        if not isinstance(states, dict):
            continue
        count += len(states)
        for state in states.values():
            if not isinstance(state, dict):
                continue
            branches = state.get("Branches")
            if isinstance(branches, list):
                machines.extend(branches)
            machines.extend(state.get(k) for k in ("ItemProcessor", "Iterator"))
    return count


def default_schema_dir() -> Path:
    """``$STACWORKS_ASL_SCHEMAS``, else ``../shared/data/asl-schemas`` beside the repository."""
    override = os.environ.get(SCHEMAS_ENV)
    if override:
        return Path(override)
    repo_root = Path(__file__).resolve().parents[2]
    return repo_root.parent / "shared" / "data" / "asl-schemas"
