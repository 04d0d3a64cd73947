"""Tasks as local processes: environment, output, exit codes, and kills that leave nothing."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from processing.asl import (
    LogRecord,
    StateMachine,
    SubprocessTaskRunner,
    TaskContext,
    TaskFailed,
    TaskTimeout,
    execute,
    run_command,
)

from .asl_helpers import machine

ECS = "arn:aws:states:::ecs:runTask.sync"


def gone(pid: int, within: float = 3.0) -> bool:
    """Whether a process has exited (a zombie awaiting its reaper counts as exited)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


def read_pid(path: Path, within: float = 5.0) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        text = path.read_text().strip() if path.exists() else ""
        if text:
            return int(text)
        time.sleep(0.01)
    raise AssertionError(f"{path} was never written")


def command_task(command: list[str] | str, **fields: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"Command": command}
    params.update(fields.pop("params", {}))
    state: dict[str, Any] = {"Type": "Task", "Resource": ECS, "Parameters": params}
    state.update(fields)
    state.setdefault("End", True)
    return state


def test_environment_and_output_lines_reach_the_log() -> None:
    records: list[LogRecord] = []
    script = (
        'echo "$STACWORKS_EXECUTION_ID|$STACWORKS_STATE_NAME|$STACWORKS_MAP_INDEX|$EXTRA"; '
        "echo to-stderr >&2"
    )
    inner = machine(
        "Run", Run=command_task(["sh", "-c", script], params={"Environment": {"EXTRA": "x1"}})
    )
    definition = machine("M", M={"Type": "Map", "ItemProcessor": inner, "End": True})
    sm = StateMachine(definition, runners={ECS: SubprocessTaskRunner()}, logs=records.append)
    result = sm.execute([1], execution_id="exec-9")
    assert result.status == "SUCCEEDED" and result.output == [{"ExitCode": 0}]
    lines = {(r.stream, r.message) for r in records}
    assert ("stdout", "exec-9|Run|0|x1") in lines
    assert ("stderr", "to-stderr") in lines
    assert all(r.state_path == "M/0/Run" and r.map_index == 0 for r in records)


def test_non_zero_exit_fails_with_the_exit_code_in_the_cause() -> None:
    definition = machine("Run", Run=command_task(["sh", "-c", "echo oops >&2; exit 3"]))
    result = execute(definition, runners={ECS: SubprocessTaskRunner()})
    assert (result.status, result.error) == ("FAILED", "States.TaskFailed")
    assert "exited with code 3" in (result.cause or "") and "oops" in (result.cause or "")


def test_result_file_and_ecs_overrides(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    definition = machine(
        "Run",
        Run={
            "Type": "Task",
            "Resource": ECS,
            "End": True,
            "Parameters": {
                "ResultFile": str(out),
                "Overrides": {
                    "ContainerOverrides": [
                        {
                            "Command": ["sh", "-c", 'printf \'{"n": %s}\' "$N" > "$OUT"'],
                            "Environment": [
                                {"Name": "N", "Value": "5"},
                                {"Name": "OUT", "Value": str(out)},
                            ],
                        }
                    ]
                },
            },
        },
    )
    assert execute(definition, runners={ECS: SubprocessTaskRunner()}).output == {"n": 5}


def test_a_command_that_cannot_start() -> None:
    definition = machine("Run", Run=command_task(["/nonexistent/tool", "x"]))
    result = execute(definition, runners={ECS: SubprocessTaskRunner()})
    assert result.error == "States.TaskFailed" and "cannot start" in (result.cause or "")
    missing = execute(
        machine("Run", Run={"Type": "Task", "Resource": ECS, "End": True}),
        runners={ECS: SubprocessTaskRunner()},
    )
    assert missing.error == "States.TaskFailed"


def test_task_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    script = f"sleep 30 & echo $! > {tmp_path}/child; echo $$ > {tmp_path}/parent; wait"
    definition = machine("Run", Run=command_task(["sh", "-c", script], TimeoutSeconds=1))
    started = time.monotonic()
    result = execute(definition, runners={ECS: SubprocessTaskRunner(kill_grace_seconds=1)})
    assert (result.status, result.error) == ("FAILED", "States.Timeout")
    assert time.monotonic() - started < 20  # not the 30 s of the sleep
    assert gone(read_pid(tmp_path / "parent")) and gone(read_pid(tmp_path / "child"))


def test_sigterm_ignored_escalates_to_sigkill(tmp_path: Path) -> None:
    script = (
        f"trap '' TERM; sleep 30 & echo $! > {tmp_path}/child; "
        f"echo $$ > {tmp_path}/parent; wait; wait"
    )
    started = time.monotonic()
    with pytest.raises(TaskTimeout):
        run_command(["sh", "-c", script], timeout_seconds=0.3, kill_grace_seconds=0.3)
    assert 0.5 < time.monotonic() - started < 20  # timeout + grace, not the 30 s of the sleep
    assert gone(read_pid(tmp_path / "parent")) and gone(read_pid(tmp_path / "child"))


def test_cancelling_the_execution_kills_the_process(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    definition = machine(
        "Run", Run=command_task(["sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"])
    )
    cancel = threading.Event()
    threading.Thread(target=lambda: (read_pid(pidfile), cancel.set()), daemon=True).start()
    started = time.monotonic()
    result = execute(
        definition, runners={ECS: SubprocessTaskRunner(kill_grace_seconds=1)}, cancel=cancel
    )
    assert result.status == "ABORTED" and time.monotonic() - started < 20  # not the 30 s sleep
    assert gone(read_pid(pidfile))


def test_background_stragglers_are_killed_when_the_task_ends(tmp_path: Path) -> None:
    started = time.monotonic()
    assert (
        run_command(["sh", "-c", f"sleep 30 & echo $! > {tmp_path}/child"], kill_grace_seconds=0.5)
        == 0
    )
    assert time.monotonic() - started < 20  # not the 30 s of the sleep
    assert gone(read_pid(tmp_path / "child"))


def test_output_lines_are_heartbeats() -> None:
    script = "for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.2; done"
    definition = machine(
        "Run", Run=command_task(["sh", "-c", script], HeartbeatSeconds=1, TimeoutSeconds=10)
    )
    result = execute(definition, runners={ECS: SubprocessTaskRunner()})
    assert result.status == "SUCCEEDED", result


def test_run_command_directly() -> None:
    lines: list[tuple[str, str]] = []
    assert (
        run_command(["sh", "-c", "echo a; echo b >&2"], log=lambda m, s="log": lines.append((s, m)))
        == 0
    )
    assert sorted(lines) == [("stderr", "b"), ("stdout", "a")]
    with pytest.raises(TaskFailed, match="signal 9"):
        run_command(["sh", "-c", "kill -9 $$"])
    env_out: list[str] = []
    run_command(
        ["sh", "-c", "echo $ONLY"],
        env={"ONLY": "this", "PATH": os.environ["PATH"]},
        log=lambda m, s="log": env_out.append(m),
    )
    assert env_out == ["this"]


def test_custom_command_builder() -> None:
    from processing.asl import CommandSpec

    def build(resource: str, params: Any, ctx: TaskContext) -> CommandSpec:
        return CommandSpec(argv=["sh", "-c", f"exit {params['code']}"])

    definition = machine(
        "Run", Run={"Type": "Task", "Resource": ECS, "End": True, "Parameters": {"code": 0}}
    )
    assert execute(definition, runners={ECS: SubprocessTaskRunner(build)}).status == "SUCCEEDED"
