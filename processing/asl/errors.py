"""The ASL error vocabulary: one exception base carrying the spec's Error name and Cause."""

from __future__ import annotations

from collections.abc import Iterable

ALL = "States.ALL"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
RUNTIME = "States.Runtime"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
BRANCH_FAILED = "States.BranchFailed"
PERMISSIONS = "States.Permissions"
EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"
ITEM_READER_FAILED = "States.ItemReaderFailed"
RESULT_WRITER_FAILED = "States.ResultWriterFailed"

#: Errors that Retry/Catch can never intercept: the spec lets an interpreter treat them as
#: terminal, and AWS does (a runtime error always fails the execution).
UNCATCHABLE = frozenset({RUNTIME})
#: Errors that ``States.ALL`` (and ``States.TaskFailed``) do not match; only an explicit name does.
NOT_MATCHED_BY_WILDCARDS = frozenset({DATA_LIMIT_EXCEEDED, RUNTIME})
#: Errors that ``States.TaskFailed`` does not match (AWS: "any error except a timeout").
NOT_MATCHED_BY_TASK_FAILED = NOT_MATCHED_BY_WILDCARDS | {TIMEOUT, HEARTBEAT_TIMEOUT}

#: The payload limit of Step Functions for a state's input or output, in UTF-8 bytes.
PAYLOAD_LIMIT_BYTES = 256 * 1024


class AslError(Exception):
    """An ASL error: ``error`` is the Error Name matched by Retry/Catch, ``cause`` the detail."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause

    def as_output(self) -> dict[str, str]:
        """The error output a catcher hands to its Next state (spec: ``{"Error", "Cause"}``)."""
        return {"Error": self.error, "Cause": self.cause}


class TaskFailed(AslError):
    """A Task's resource failed (non-zero exit, an exception in a Python runner, ...)."""

    def __init__(self, cause: str = "", error: str = TASK_FAILED) -> None:
        super().__init__(error, cause)


class TaskTimeout(AslError):
    """A Task ran past TimeoutSeconds (or missed a heartbeat, with ``heartbeat=True``)."""

    def __init__(self, cause: str = "", *, heartbeat: bool = False) -> None:
        super().__init__(HEARTBEAT_TIMEOUT if heartbeat else TIMEOUT, cause)


class RuntimeFailure(AslError):
    """The interpreter could not process the state (bad path, wrong type); never caught."""

    def __init__(self, cause: str = "") -> None:
        super().__init__(RUNTIME, cause)


class DataLimitExceeded(AslError):
    """A state's input or output is larger than the 256 KiB payload limit."""

    def __init__(self, cause: str = "") -> None:
        super().__init__(DATA_LIMIT_EXCEEDED, cause)


class NoChoiceMatched(AslError):
    """No Choice Rule matched and the Choice state has no Default."""

    def __init__(self, cause: str = "") -> None:
        super().__init__(NO_CHOICE_MATCHED, cause)


class ParameterPathFailure(AslError):
    """A ``.$`` field of a payload template names a path that is absent from its input."""

    def __init__(self, cause: str = "") -> None:
        super().__init__(PARAMETER_PATH_FAILURE, cause)


class ResultPathMatchFailure(AslError):
    """ResultPath cannot be applied to the state's input (e.g. a field of a string)."""

    def __init__(self, cause: str = "") -> None:
        super().__init__(RESULT_PATH_MATCH_FAILURE, cause)


class IntrinsicFailure(AslError):
    """An intrinsic function was called with wrong arguments or failed."""

    def __init__(self, cause: str = "") -> None:
        super().__init__(INTRINSIC_FAILURE, cause)


class ExceedToleratedFailureThreshold(AslError):
    """More Map iterations failed than ToleratedFailureCount/Percentage allow."""

    def __init__(self, cause: str = "") -> None:
        super().__init__(EXCEED_TOLERATED_FAILURE_THRESHOLD, cause)


def error_matches(error: str, error_equals: Iterable[str]) -> bool:
    """Whether a Retrier/Catcher with ``ErrorEquals`` applies to ``error``.

    ``States.ALL`` matches every error but the terminal ones; ``States.TaskFailed`` matches every
    error but timeouts; ``States.Timeout`` also matches a heartbeat timeout, which AWS documents
    as a kind of timeout. ``States.Runtime`` is never matched.
    """
    if error in UNCATCHABLE:
        return False
    for name in error_equals:
        if name == error:
            return True
        if name == ALL and error not in NOT_MATCHED_BY_WILDCARDS:
            return True
        if name == TASK_FAILED and error not in NOT_MATCHED_BY_TASK_FAILED:
            return True
        if name == TIMEOUT and error == HEARTBEAT_TIMEOUT:
            return True
    return False
