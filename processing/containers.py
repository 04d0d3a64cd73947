"""Algorithms as container images here: image references, ``stacworks algorithm build`` and the
Docker task runner (``STACWORKS_PROCESSING_RUNNER=docker``).

The Docker runner keeps the task contract of the command runner, so one image behaves here as on
Fargate: the same ``STACWORKS_*`` environment (paths are mounted at the same place inside the
container, inputs read-only, the output folder writable), no network unless the algorithm sets
``network: true``, the algorithm's CPU and memory as limits, output lines as the task's log.
A non-zero exit and an out-of-memory kill are ``States.TaskFailed`` (as Step Functions reports a
failed ECS task), the cause saying which, so ``Retry``/``Catch`` work the same.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processing.algorithm_tasks import AlgorithmTaskRunner, TaskLaunch
from processing.algorithms import AlgorithmSpec, load_algorithm_file
from processing.asl import AslError
from processing.asl.errors import TaskFailed
from processing.asl.subprocess_runner import run_command
from processing.errors import InvalidInput, TaskSetupError
from processing.settings import ProcessingSettings

__all__ = [
    "BuiltImage",
    "task_runner_class",
    "DockerTaskRunner",
    "ImageRef",
    "build_image",
    "kill_task_container",
    "parse_image_ref",
]

_REF = re.compile(
    r"^(?P<name>[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
#: What the docker CLI itself needs from the server's environment (never given to the task).
_CLIENT_ENV = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT",
               "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "XDG_RUNTIME_DIR")
BUILD_RECORD = ".stacworks-image.json"


@dataclass(frozen=True, slots=True)
class ImageRef:
    """``name[:tag][@sha256:...]`` split into its parts."""

    name: str
    tag: str | None
    digest: str | None

    @property
    def without_digest(self) -> str:
        return f"{self.name}:{self.tag}" if self.tag else self.name


def parse_image_ref(value: str, *, field: str = "image") -> ImageRef:
    """Parse an image reference; a malformed one is :class:`InvalidInput` naming ``field``."""
    match = _REF.match(value.strip())
    if not match:
        raise InvalidInput(field, f"{value!r} is no image reference (name[:tag][@sha256:...])")
    return ImageRef(match.group("name"), match.group("tag"), match.group("digest"))


def with_image(spec: AlgorithmSpec, reference: str) -> AlgorithmSpec:
    """``spec`` running ``reference`` (its digest, when given, recorded for provenance)."""
    ref = parse_image_ref(reference)
    return spec.model_copy(update={"image": ref.without_digest,
                                   "image_digest": ref.digest or spec.image_digest})


def _docker(*args: str, check: bool = True, timeout: float | None = 60) -> str:
    try:
        done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False,
                              timeout=timeout)
    except FileNotFoundError:
        raise TaskSetupError("the docker command is not installed") from None
    except subprocess.TimeoutExpired:
        raise TaskSetupError(f"docker {args[0]} did not answer in {timeout} s") from None
    if check and done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise TaskSetupError(f"docker {args[0]} failed: {last}")
    return done.stdout.strip()


@dataclass(frozen=True, slots=True)
class BuiltImage:
    """What ``stacworks algorithm build`` made: the tag, the image id and the algorithm."""

    tag: str
    image_id: str
    spec: AlgorithmSpec


def build_image(directory: Path, *, tag: str | None = None,
                build_args: dict[str, str] | None = None, quiet: bool = False) -> BuiltImage:
    """``docker build`` an algorithm repository, tagged as its ``algorithm.yaml`` says.

    The image id is written to ``.stacworks-image.json`` beside ``algorithm.yaml``.
    """
    directory = directory.absolute()
    definition = directory / "algorithm.yaml"
    if not definition.is_file():
        raise InvalidInput("dir", f"{directory} has no algorithm.yaml")
    spec = load_algorithm_file(definition)
    tag = tag or (parse_image_ref(spec.image).without_digest if spec.image
                  else f"{spec.name}:{spec.version}")
    argv = ["docker", "build", "--tag", tag]
    for key, value in (build_args or {}).items():
        argv += ["--build-arg", f"{key}={value}"]
    argv.append(str(directory))
    try:
        done = subprocess.run(argv, check=False, capture_output=quiet, text=True)
    except FileNotFoundError:
        raise TaskSetupError("the docker command is not installed") from None
    if done.returncode != 0:
        tail = (done.stderr or "").strip().splitlines()[-1:] if quiet else []
        raise TaskSetupError(f"docker build failed (exit {done.returncode})"
                             + (f": {tail[0]}" if tail else ""))
    image_id = _docker("image", "inspect", "--format", "{{.Id}}", tag)
    record = {"image": tag, "image_id": image_id, "algorithm": spec.name,
              "version": spec.version}
    (directory / BUILD_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return BuiltImage(tag, image_id, spec)


def container_name(token: str) -> str:
    """A task run's container, named by its token (``STACWORKS_TASK_TOKEN``)."""
    return f"stacworks-{token}"


def kill_task_container(token: str) -> bool:
    """Remove the container a crashed server left running for task run ``token``."""
    try:
        return bool(_docker("rm", "--force", container_name(token), check=False, timeout=30))
    except TaskSetupError:
        return False


class DockerTaskRunner(AlgorithmTaskRunner):
    """The command runner's contract, with each task in a container of the algorithm's image.

    Algorithms without an image still run as local commands.
    """

    def _command(self, spec: AlgorithmSpec) -> list[str]:
        if spec.image is None:
            return super()._command(spec)
        image = spec.image
        if spec.image_digest and "@" not in image:
            image = f"{image}@{spec.image_digest}"
        return [image, *spec.command]

    def _execute(self, spec: AlgorithmSpec, argv: list[str], env: dict[str, str],
                 launch: TaskLaunch) -> None:
        if spec.image is None:
            super()._execute(spec, argv, env, launch)
            return
        name = container_name(launch.token)
        task_env = {k: v for k, v in env.items() if k not in self.settings.task_env_passthrough}
        client_env = {k: v for k, v in os.environ.items() if k in _CLIENT_ENV}
        docker = ["docker", "run", "--name", name,
                  "--network", "bridge" if spec.network else "none",
                  "--cpus", f"{launch.cpu / 1024:g}",
                  "--memory", f"{launch.memory}m", "--memory-swap", f"{launch.memory}m",
                  "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                  "--workdir", "/tmp", "--tmpfs", "/tmp"]
        docker += self._user(launch.out_dir)
        for path, mode in self._mounts(launch):
            docker += ["--volume", f"{path}:{path}:{mode}"]
        for key in sorted(task_env):  # values travel in the client's environment, not argv
            docker += ["--env", key]
        docker += argv  # the image, then its command (the image's CMD when none)
        try:
            run_command(docker, env={**task_env, **client_env}, cwd=launch.task_dir,
                        log=launch.log, heartbeat=launch.ctx.heartbeat,
                        cancel=launch.ctx.cancel, timeout_seconds=launch.ctx.timeout_seconds,
                        kill_grace_seconds=self.settings.kill_grace_seconds)
        except AslError as exc:
            _docker("kill", name, check=False)
            state = self._state(name)
            if state.get("OOMKilled"):
                raise TaskFailed(
                    "OutOfMemoryError: Container killed due to memory usage "
                    f"(limit {launch.memory} MiB, exit code {state.get('ExitCode')})"
                ) from None
            if exc.cause and "exited with code 125" in exc.cause:
                raise TaskFailed(f"the container did not start: {exc.cause}") from None
            raise
        finally:
            _docker("rm", "--force", name, check=False)

    def _user(self, out_dir: Path) -> list[str]:
        """Run as the server's user (outputs stay its files); as root, as the image's user."""
        if os.getuid() != 0:
            return ["--user", f"{os.getuid()}:{os.getgid()}"]
        out_dir.chmod(0o777)  # the image's (non-root) user writes here
        return []

    def _mounts(self, launch: TaskLaunch) -> list[tuple[str, str]]:
        """The output folder (rw), the item snapshots and the local assets' folders (ro)."""
        mounts = {str(launch.out_dir): "rw", str(launch.task_dir / "inputs"): "ro"}
        for item in launch.items:
            for path in item.assets.values():
                if path.startswith("/vsi") or not Path(path).is_absolute():
                    continue  # remote (needs network: true) or resolved by GDAL itself
                folder = str(Path(path).parent)
                if not any(folder == m or folder.startswith(m + "/") for m in mounts):
                    mounts[folder] = "ro"
        return sorted(mounts.items())

    def _state(self, name: str) -> dict[str, Any]:
        text = _docker("inspect", "--format", "{{json .State}}", name, check=False)
        try:
            state = json.loads(text) if text else {}
        except ValueError:
            return {}
        return state if isinstance(state, dict) else {}


def docker_available() -> bool:
    """Whether a docker CLI is installed and its daemon answers."""
    if shutil.which("docker") is None:
        return False
    try:
        _docker("version", "--format", "{{.Server.Version}}", timeout=10)
    except TaskSetupError:
        return False
    return True


def task_runner_class(settings: ProcessingSettings) -> type[AlgorithmTaskRunner]:
    """The task runner ``STACWORKS_PROCESSING_RUNNER`` asks for."""
    return DockerTaskRunner if settings.runner == "docker" else AlgorithmTaskRunner
