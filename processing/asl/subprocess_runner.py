"""Running a Task as a local process: its own process group, streamed output, reliable kills.

The process is started in a new session so that a timeout or a cancellation can kill it *and*
everything it spawned (SIGTERM to the group, then SIGKILL after a grace period). Output lines go
to the task's log callback as they arrive and double as heartbeats.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from processing.asl.errors import AslError, TaskFailed, TaskTimeout
from processing.asl.runners import LogFn, TaskContext

__all__ = [
    "CommandSpec",
    "SubprocessTaskRunner",
    "command_from_parameters",
    "kill_process_group",
    "run_command",
]

#: How long to wait for the pipes to drain after the process exits before treating leftover
#: children (which still hold the pipes open) as stragglers to kill.
_DRAIN_SECONDS = 0.5
#: The watcher thread notices a cancel within this many seconds; normal completion never waits.
_CANCEL_POLL_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command to run: argv, extra environment, working directory, optional result file.

    When ``result_file`` is set and the command writes JSON there, that JSON is the task's
    result; otherwise the result is ``{"ExitCode": 0}``.
    """

    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    result_file: str | None = None


def kill_process_group(
    proc: subprocess.Popen[bytes], grace_seconds: float, exited: threading.Event
) -> None:
    """SIGTERM the process group, give it ``grace_seconds`` to exit, then SIGKILL the group.

    The SIGKILL is sent even when the leader exited in time, so children that ignored SIGTERM
    (or were not waiting for it) do not outlive the task.
    """
    pgid = proc.pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_seconds
    while not exited.is_set() and time.monotonic() < deadline:
        if not _group_alive(pgid):
            return
        exited.wait(min(0.02, max(0.0, deadline - time.monotonic())))
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a member changed credentials: assume alive
        return True
    return True


def _pump(
    pipe: IO[bytes], stream: str, log: LogFn, beat: Callable[[], None], tail: deque[str]
) -> None:
    with pipe:
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            tail.append(line)
            beat()
            # A broken log sink must not wedge the pipe (and with it the process).
            with contextlib.suppress(Exception):
                log(line, stream)


def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    log: LogFn | None = None,
    heartbeat: Callable[[], None] | None = None,
    cancel: threading.Event | None = None,
    timeout_seconds: float | None = None,
    kill_grace_seconds: float = 5.0,
) -> int:
    """Run ``argv`` to completion and return 0, streaming each output line to ``log``.

    Args:
        argv: the command and its arguments (no shell).
        env: the complete environment of the process (None inherits ours).
        cwd: the working directory.
        log: receives ``(line, "stdout" | "stderr")``; every line also counts as a heartbeat.
        heartbeat: called for each output line.
        cancel: when set, the process group is killed and :class:`TaskFailed` is raised.
        timeout_seconds: kill the group and raise ``States.Timeout`` after this long.
        kill_grace_seconds: time between SIGTERM and SIGKILL.

    Raises:
        TaskFailed: a non-zero exit (the cause names the exit code and the last stderr lines),
            a command that cannot be started, or a cancellation.
        TaskTimeout: ``timeout_seconds`` elapsed.
    """
    log = log or (lambda message, stream="log": None)
    beat = heartbeat or (lambda: None)
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,  # own process group: the whole tree can be killed at once
        )
    except OSError as exc:
        raise TaskFailed(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from None

    stderr_tail: deque[str] = deque(maxlen=20)
    stdout_tail: deque[str] = deque(maxlen=1)
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        threading.Thread(
            target=_pump, args=(proc.stdout, "stdout", log, beat, stdout_tail), daemon=True
        ),
        threading.Thread(
            target=_pump, args=(proc.stderr, "stderr", log, beat, stderr_tail), daemon=True
        ),
    ]
    for pump in pumps:
        pump.start()

    exited = threading.Event()
    killed: list[str] = []
    deadline = time.monotonic() + timeout_seconds if timeout_seconds is not None else None

    def watch() -> None:
        # Polls only for the cancel/timeout; the normal path never waits on this thread.
        while not exited.is_set():
            wait = _CANCEL_POLL_SECONDS
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    killed.append("timeout")
                    kill_process_group(proc, kill_grace_seconds, exited)
                    return
                wait = min(wait, left)
            if cancel is not None and cancel.wait(wait):
                killed.append("cancel")
                kill_process_group(proc, kill_grace_seconds, exited)
                return
            if cancel is None:
                exited.wait(wait)

    watcher = threading.Thread(target=watch, daemon=True)
    if cancel is not None or deadline is not None:
        watcher.start()
    try:
        code = proc.wait()
    finally:
        exited.set()
    for pump in pumps:
        pump.join(_DRAIN_SECONDS)
    if any(pump.is_alive() for pump in pumps):
        # Children still hold the pipes: the task is over, so they go with it.
        kill_process_group(proc, min(kill_grace_seconds, 1.0), threading.Event())
        for pump in pumps:
            pump.join(kill_grace_seconds)
    if killed:
        watcher.join()  # let the kill sequence finish: the group must be gone when we return
    if killed and killed[0] == "timeout":
        raise TaskTimeout(
            f"command {argv[0]!r} timed out after {timeout_seconds} s; process group killed"
        )
    if killed:
        raise TaskFailed(f"command {argv[0]!r} was cancelled; process group killed")
    if code != 0:
        detail = " | ".join(line for line in stderr_tail if line)[-2000:]
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        raise TaskFailed(f"command {argv[0]!r} {how}" + (f": {detail}" if detail else ""))
    return code


def _environment(value: Any) -> dict[str, str]:
    """Accept ``{"K": "v"}`` or ECS's ``[{"Name": "K", "Value": "v"}]``."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        return {str(item["Name"]): str(item.get("Value", "")) for item in value}
    raise TypeError("Environment must be an object or a list of {Name, Value}")


def command_from_parameters(resource: str, parameters: Any, ctx: TaskContext) -> CommandSpec:
    """The default command builder: read argv and environment from the Task's parameters.

    Understands ``{"Command": [...] | "cmd line", "Environment": {...}, "WorkingDirectory": ...,
    "ResultFile": ...}`` and the ECS ``runTask`` shape
    ``{"Overrides": {"ContainerOverrides": [{"Command": [...], "Environment": [...]}]}}``.
    """
    if not isinstance(parameters, Mapping):
        raise TaskFailed("a command task needs an object of parameters with a 'Command'")
    source: Mapping[str, Any] = parameters
    if "Command" not in parameters:
        overrides = parameters.get("Overrides", {}).get("ContainerOverrides") or [{}]
        source = overrides[0]
    command = source.get("Command")
    if isinstance(command, str):
        command = shlex.split(command)
    if not command or not isinstance(command, list):
        raise TaskFailed("the task parameters name no 'Command' to run")
    try:
        env = _environment(source.get("Environment"))
    except (TypeError, KeyError) as exc:
        raise TaskFailed(str(exc)) from None
    return CommandSpec(
        argv=[str(part) for part in command],
        env=env,
        cwd=parameters.get("WorkingDirectory"),
        result_file=parameters.get("ResultFile"),
    )


class SubprocessTaskRunner:
    """A :class:`~processing.asl.runners.TaskRunner` that runs each Task as a local command.

    ``build`` turns ``(resource, parameters, ctx)`` into a :class:`CommandSpec` (by default
    :func:`command_from_parameters`). The process receives the task contract variables
    ``STACWORKS_EXECUTION_ID``, ``STACWORKS_STATE_NAME`` and ``STACWORKS_MAP_INDEX`` on top of
    the inherited environment.
    """

    def __init__(
        self,
        build: Callable[[str, Any, TaskContext], CommandSpec] = command_from_parameters,
        *,
        kill_grace_seconds: float = 5.0,
        inherit_env: bool = True,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        self.build = build
        self.kill_grace_seconds = kill_grace_seconds
        self.inherit_env = inherit_env
        self.base_env = dict(base_env or {})

    def environment(self, spec: CommandSpec, ctx: TaskContext) -> dict[str, str]:
        """The process environment: inherited, then base, then the task contract, then spec."""
        env = dict(os.environ) if self.inherit_env else {}
        env.update(self.base_env)
        env["STACWORKS_EXECUTION_ID"] = ctx.execution_id
        env["STACWORKS_STATE_NAME"] = ctx.state_name
        if ctx.map_index is not None:
            env["STACWORKS_MAP_INDEX"] = str(ctx.map_index)
        else:
            env.pop("STACWORKS_MAP_INDEX", None)
        env.update(spec.env)
        return env

    def run(self, resource: str, parameters: Any, ctx: TaskContext) -> Any:
        """Run the command; its result is the JSON in ``result_file`` or ``{"ExitCode": 0}``."""
        spec = self.build(resource, parameters, ctx)
        run_command(
            spec.argv,
            env=self.environment(spec, ctx),
            cwd=spec.cwd,
            log=ctx.log,
            heartbeat=ctx.heartbeat,
            cancel=ctx.cancel,
            timeout_seconds=ctx.timeout_seconds,
            kill_grace_seconds=self.kill_grace_seconds,
        )
        if spec.result_file:
            path = Path(spec.result_file)
            if path.is_file():
                try:
                    return json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    raise AslError("States.TaskFailed", f"unreadable result file: {exc}") from None
        return {"ExitCode": 0}
