"""Helpers shared by the ASL tests: ARNs and compact state-machine builders."""

from __future__ import annotations

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"


def arn(name: str) -> str:
    """A Lambda ARN: the schemas want real-looking ARNs, the runners only match strings."""
    return LAMBDA + name


def task(name: str, **fields: object) -> dict[str, object]:
    """A Task state calling :func:`arn` ``(name)``; ``End`` unless ``Next`` is given."""
    state: dict[str, object] = {"Type": "Task", "Resource": arn(name)}
    state.update(fields)
    if "Next" not in state:
        state["End"] = True
    return state


def machine(start: str, **states: dict[str, object]) -> dict[str, object]:
    """A state machine from keyword states (names must be identifiers)."""
    return {"StartAt": start, "States": states}
