"""One error vocabulary for processing, mapped to HTTP status codes (and OGC types) in one place.

Every message is stable and safe to show a client: database, file-system and process errors are
logged where they happen and translated into one of these, never echoed.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "OGC_EXCEPTIONS",
    "STATUS_CODES",
    "AlgorithmNotFound",
    "Conflict",
    "InvalidInput",
    "JobFailed",
    "NoSuchJob",
    "NoSuchProcess",
    "NotFound",
    "ProcessingError",
    "ResultNotReady",
    "TaskSetupError",
    "WorkflowNotFound",
]

OGC_EXCEPTIONS = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0"


class ProcessingError(Exception):
    """Base of every processing error; ``str()`` is a stable message safe to show a user."""

    status_code: ClassVar[int] = 500
    #: The ``type`` of the RFC 7807 / OGC exception document.
    type_uri: ClassVar[str] = "about:blank"
    title: ClassVar[str] = "processing error"


class InvalidInput(ProcessingError):
    """A request or document field is malformed; the message names the field."""

    status_code = 400
    title = "invalid input"
    type_uri = f"{OGC_EXCEPTIONS}/invalid-input"

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class NotFound(ProcessingError):
    status_code = 404
    title = "not found"


class NoSuchProcess(NotFound):
    type_uri = f"{OGC_EXCEPTIONS}/no-such-process"
    title = "no such process"


class WorkflowNotFound(NoSuchProcess):
    title = "no such workflow"


class AlgorithmNotFound(NoSuchProcess):
    title = "no such algorithm"


class NoSuchJob(NotFound):
    type_uri = f"{OGC_EXCEPTIONS}/no-such-job"
    title = "no such job"


class ResultNotReady(NotFound):
    type_uri = f"{OGC_EXCEPTIONS}/result-not-ready"
    title = "result not ready"


class JobFailed(ProcessingError):
    """The job ended without results (failed or dismissed); the message carries its cause."""

    status_code = 409
    type_uri = f"{OGC_EXCEPTIONS}/job-results-failed"
    title = "job failed"


class Conflict(ProcessingError):
    status_code = 409
    title = "conflict"


class TaskSetupError(ProcessingError):
    """A task could not be prepared (unknown algorithm, unreadable input item, bad outputs)."""

    status_code = 422
    title = "task set-up failed"


#: The one status map (subclasses inherit their parent's code unless they set their own).
STATUS_CODES: dict[type[ProcessingError], int] = {
    cls: cls.status_code
    for cls in (
        ProcessingError,
        InvalidInput,
        NotFound,
        NoSuchProcess,
        NoSuchJob,
        ResultNotReady,
        JobFailed,
        Conflict,
        TaskSetupError,
    )
}
