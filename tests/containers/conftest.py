"""Docker for the ``docker``-marked tests: the daemon (started the documented way when none
runs, stopped again at the end; a missing tool fails, as everywhere in the suite), a Debian
base image built here (no registry can be reached) and the example algorithms' image FROM it.
Images are cached by tag in the daemon, the base's root filesystem also as a tarball
(``$STACWORKS_DOCKER_CACHE``, default ~/.cache/stacworks/docker)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: What the base image holds: Python for the example algorithms, jq for the shell template.
BASE_PACKAGES = ("python3", "ca-certificates", "jq")
BASE_TAG = "stacworks-test/base:bookworm-" + hashlib.sha256(
    ",".join(BASE_PACKAGES).encode()).hexdigest()[:12]
MIRROR = os.environ.get("STACWORKS_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def _docker_ok() -> bool:
    return subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                          capture_output=True, timeout=20).returncode == 0


def _has_image(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def docker_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A running dockerd: the one already there, or ours (``--bridge=none --iptables=false``)."""
    if shutil.which("docker") is None:
        pytest.fail("no docker CLI: apt-get install docker.io (or deselect: -m 'not docker')")
    if _docker_ok():
        yield
        return
    if shutil.which("dockerd") is None:
        pytest.fail("no dockerd: apt-get install docker.io (or deselect: -m 'not docker')")
    log = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(["dockerd", "--bridge=none", "--iptables=false"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _docker_ok():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dockerd did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def base_image(docker_daemon: None) -> str:
    """A minimal Debian bookworm with python3 and jq: mmdebstrap from Debian's packages, then
    ``docker import`` (about 2.5 minutes the first time on 2 busy cores; then cached)."""
    if _has_image(BASE_TAG):
        return BASE_TAG
    cache = Path(os.environ.get("STACWORKS_DOCKER_CACHE",
                                Path.home() / ".cache" / "stacworks" / "docker"))
    tarball = cache / f"{BASE_TAG.split(':')[1]}.tar"
    if not tarball.is_file():
        if shutil.which("mmdebstrap") is None:
            pytest.fail("no mmdebstrap for the base image: apt-get install mmdebstrap")
        cache.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".partial")
        subprocess.run(["mmdebstrap", "--variant=minbase", "--quiet", "--format=tar",
                        f"--include={','.join(BASE_PACKAGES)}", "bookworm", str(partial),
                        MIRROR], check=True, timeout=900)
        partial.rename(tarball)
    subprocess.run(["docker", "import", "--change", 'CMD ["/bin/sh"]', str(tarball), BASE_TAG],
                   check=True, capture_output=True, timeout=300)
    return BASE_TAG


@pytest.fixture(scope="session")
def algorithms_image(base_image: str) -> str:
    """The example algorithms' image (algorithms/build-image.sh), tagged by its sources."""
    digest = hashlib.sha256(base_image.encode())
    for path in sorted((ROOT / "algorithms").glob("*.py")) + [
            ROOT / "algorithms" / "Dockerfile", ROOT / "algorithms" / "build-image.sh",
            ROOT / "processing" / "aws" / "task_entry.py", ROOT / "requirements.lock"]:
        digest.update(path.read_bytes())
    tag = f"stacworks-test/algorithms:{digest.hexdigest()[:12]}"
    if not _has_image(tag):
        subprocess.run([str(ROOT / "algorithms" / "build-image.sh"), tag, base_image],
                       check=True, capture_output=True, timeout=900)
    return tag
