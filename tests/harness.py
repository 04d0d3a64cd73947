"""Helpers that start the real things the tests talk to: a PostgreSQL cluster, our servers."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def world_traversable_tmpdir(prefix: str) -> Path:
    """A temp folder the ``postgres`` user can reach when tests run as root."""
    base = Path(os.environ.get("STACWORKS_TEST_TMP", "/var/tmp"))
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    d.chmod(0o755)
    return d


def stacworks(
    *args: str,
    env: dict[str, str],
    check: bool = True,
    timeout: float = 300,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would: a subprocess of the installed entry point."""
    res = subprocess.run(
        [str(BIN / "stacworks"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        cwd=ROOT,
    )
    if check and res.returncode != 0:
        raise AssertionError(f"stacworks {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}")
    return res


def wait_http(url: str, timeout: float = 60, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer in {timeout}s")


def stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Terminate ``proc`` if it still runs; kill it if it does not exit within ``timeout``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def serve_process(
    env: dict[str, str],
    *args: str,
    log: Path | None = None,
    timeout: float = 60,
    preexec_fn: Callable[[], None] | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`stacworks serve [args]` on a free port; yields (base URL, process) once ``/healthz``
    answers (the root app answers it whatever is served); stops it afterwards. The test may
    kill the process itself."""
    port = free_port()
    with open(log, "ab") if log else contextlib.nullcontext(subprocess.DEVNULL) as out:
        proc = subprocess.Popen(
            [str(BIN / "stacworks"), "serve", *args, "--port", str(port)],
            env=env, stdout=out, stderr=out, cwd=ROOT, preexec_fn=preexec_fn,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz", timeout=timeout, proc=proc)
        yield base, proc
    finally:
        stop(proc)


@contextmanager
def serve(env: dict[str, str], *args: str, log: Path | None = None) -> Iterator[str]:
    """`stacworks serve [args]` on a free port; yields the base URL; stops it afterwards."""
    with serve_process(env, *args, log=log) as (base, _):
        yield base


def wait_moto(endpoint: str, proc: subprocess.Popen[bytes], timeout: float = 30,
              log: Path | None = None) -> None:
    """Wait until a moto server at ``endpoint`` answers; fail (with its log) if it exits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=1)
            return
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                detail = f": {log.read_text()}" if log else ""
                raise RuntimeError(f"moto_server did not start{detail}") from None
            time.sleep(0.1)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


@contextmanager
def moto_server() -> Iterator[str]:
    """``moto_server`` (S3 emulator) in its own process on a free loopback port; yields its
    endpoint URL. Tests talk to it over real HTTP, never through moto's in-process mock."""
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_moto(endpoint, proc)
        yield endpoint
    finally:
        stop(proc, timeout=10)


@contextmanager
def private_catalog(
    prefix: str, base_env: dict[str, str] | None = None
) -> Iterator[dict[str, str]]:
    """A fresh data folder with its own PostgreSQL cluster, started and migrated through the
    CLI; yields the environment that points `stacworks` at it; stops and removes it after."""
    home = world_traversable_tmpdir(prefix)
    env = dict(os.environ if base_env is None else base_env)
    env.pop("STACWORKS_DATABASE_URL", None)
    env.update({"STACWORKS_HOME": str(home / "home"), "STACWORKS_DB_PORT": str(free_port())})
    try:
        stacworks("db", "start", env=env)
        stacworks("db", "migrate", env=env)
        yield env
    finally:
        stacworks("db", "stop", env=env, check=False)
        remove_tree(home)
