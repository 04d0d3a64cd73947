"""An Amazon States Language interpreter (JSONPath): validate, then execute, in-process.

>>> from processing.asl import execute
>>> execute({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, {"a": 1}).output
{'a': 1}
"""

from processing.asl.choice import ChoiceState, string_matches
from processing.asl.clock import Clock, FakeClock, SystemClock
from processing.asl.errors import (
    PAYLOAD_LIMIT_BYTES,
    AslError,
    DataLimitExceeded,
    ExceedToleratedFailureThreshold,
    IntrinsicFailure,
    NoChoiceMatched,
    ParameterPathFailure,
    ResultPathMatchFailure,
    RuntimeFailure,
    TaskFailed,
    TaskTimeout,
    error_matches,
)
from processing.asl.events import (
    EventRecorder,
    EventSink,
    HistoryEvent,
    completed_tasks_from_events,
)
from processing.asl.executor import (
    Execution,
    ExecutionResult,
    ExecutionStatus,
    InvalidDefinition,
    LogRecord,
    LogSink,
    StateMachine,
    execute,
    task_key,
)
from processing.asl.intrinsics import evaluate_intrinsic, parse_intrinsic
from processing.asl.io import PayloadTemplate, apply_result_path, select_path
from processing.asl.paths import (
    JsonPath,
    PathNotFound,
    PathSyntaxError,
    parse_path,
    parse_reference_path,
    set_reference,
)
from processing.asl.retry import retry_delay
from processing.asl.runners import (
    CallableTaskRunner,
    RunnerRegistry,
    TaskContext,
    TaskRunner,
)
from processing.asl.subprocess_runner import (
    CommandSpec,
    SubprocessTaskRunner,
    command_from_parameters,
    run_command,
)
from processing.asl.timestamps import format_timestamp, is_timestamp, parse_timestamp
from processing.asl.validate import ValidationIssue, ValidationResult, validate

__all__ = [
    "PAYLOAD_LIMIT_BYTES",
    "AslError",
    "CallableTaskRunner",
    "ChoiceState",
    "Clock",
    "CommandSpec",
    "DataLimitExceeded",
    "EventRecorder",
    "EventSink",
    "ExceedToleratedFailureThreshold",
    "Execution",
    "ExecutionResult",
    "ExecutionStatus",
    "FakeClock",
    "HistoryEvent",
    "IntrinsicFailure",
    "InvalidDefinition",
    "JsonPath",
    "LogRecord",
    "LogSink",
    "NoChoiceMatched",
    "ParameterPathFailure",
    "PathNotFound",
    "PathSyntaxError",
    "PayloadTemplate",
    "ResultPathMatchFailure",
    "RunnerRegistry",
    "RuntimeFailure",
    "StateMachine",
    "SubprocessTaskRunner",
    "SystemClock",
    "TaskContext",
    "TaskFailed",
    "TaskRunner",
    "TaskTimeout",
    "ValidationIssue",
    "ValidationResult",
    "apply_result_path",
    "command_from_parameters",
    "completed_tasks_from_events",
    "error_matches",
    "evaluate_intrinsic",
    "execute",
    "format_timestamp",
    "is_timestamp",
    "parse_intrinsic",
    "parse_path",
    "parse_reference_path",
    "parse_timestamp",
    "retry_delay",
    "run_command",
    "select_path",
    "set_reference",
    "string_matches",
    "task_key",
    "validate",
]
