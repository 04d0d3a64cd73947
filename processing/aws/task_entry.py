"""The entry point of an algorithm's container on Fargate: stage the input item snapshots, run
the command, then upload what it wrote to the task's S3 prefix
(``python -m processing.aws.task_entry -- CMD ...``).

Locally the executor stages outputs itself; on Fargate nothing outside the container sees its
disk, so this wrapper carries the task contract's second half: files (and ``outputs.json``) in
``STACWORKS_OUTPUT_DIR`` end up under ``STACWORKS_OUTPUT_PREFIX``, where the platform reads them.
It needs only the standard library and boto3 (``AWS_ENDPOINT_URL_S3`` points it elsewhere).

It is the ENTRYPOINT of the shipped algorithms' image, which the Docker runner also runs here:
there nothing is in S3 (no ``STACWORKS_OUTPUT_PREFIX``, no ``s3://`` inputs), so it ``exec``s
the command as it is: the same process, exit code and out-of-memory kill as without it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["main", "needs_s3", "upload"]


def upload(folder: Path, prefix: str) -> int:
    """Upload every file under ``folder`` to ``s3://bucket/prefix/...``; return the count."""
    import boto3

    parts = urlsplit(prefix)
    if parts.scheme != "s3" or not parts.netloc:
        raise SystemExit(f"STACWORKS_OUTPUT_PREFIX must be s3://bucket/prefix, got {prefix!r}")
    s3 = boto3.client("s3")
    base = parts.path.strip("/")
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = f"{base}/{path.relative_to(folder).as_posix()}"
        s3.upload_file(str(path), parts.netloc, key)
        count += 1
    return count


def _gdal_path(href: str) -> str:
    parts = urlsplit(href)
    if parts.scheme == "s3":
        return f"/vsis3/{parts.netloc}{parts.path}"
    if parts.scheme in ("http", "https"):
        return f"/vsicurl/{href}"
    return href


def stage_inputs(folder: Path) -> None:
    """Input items given as ``s3://`` snapshots become local files, as the contract promises
    (``file://`` item URLs and ``STACWORKS_INPUT_ASSETS`` paths GDAL opens)."""
    urls = json.loads(os.environ.get("STACWORKS_INPUT_ITEMS") or "[]")
    if not any(isinstance(u, str) and u.startswith("s3://") for u in urls):
        return
    import boto3

    s3 = boto3.client("s3")
    folder.mkdir(parents=True, exist_ok=True)
    local: list[str] = []
    assets: list[dict[str, str]] = []
    for index, url in enumerate(urls):
        path = folder / f"{index:03d}.json"
        parts = urlsplit(url)
        if parts.scheme == "s3":
            s3.download_file(parts.netloc, parts.path.lstrip("/"), str(path))
        else:
            local.append(url)
            assets.append({})
            continue
        item = json.loads(path.read_text(encoding="utf-8"))
        local.append(path.as_uri())
        assets.append({key: _gdal_path(str(asset["href"]))
                       for key, asset in (item.get("assets") or {}).items()
                       if isinstance(asset, dict) and asset.get("href")})
    os.environ["STACWORKS_INPUT_ITEMS"] = json.dumps(local)
    os.environ["STACWORKS_INPUT_ASSETS"] = json.dumps(assets)


def needs_s3() -> bool:
    """Whether this task is one of Fargate's: an output prefix, or inputs in S3."""
    if os.environ.get("STACWORKS_OUTPUT_PREFIX"):
        return True
    try:
        urls = json.loads(os.environ.get("STACWORKS_INPUT_ITEMS") or "[]")
    except ValueError:
        return False
    return isinstance(urls, list) and any(isinstance(u, str) and u.startswith("s3://")
                                          for u in urls)


def _run(command: list[str]) -> int:
    """Run ``command``, passing on SIGTERM/SIGINT (ECS StopTask sends SIGTERM to PID 1)."""
    child = subprocess.Popen(command)  # noqa: S603 - the task definition's own command

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    code = child.wait()
    return 128 - code if code < 0 else code  # killed by a signal: as a shell reports it


def main(argv: list[str]) -> int:
    """Run ``argv`` (after ``--``) under the contract; upload its outputs when it succeeds."""
    command = argv[argv.index("--") + 1:] if "--" in argv else argv
    if not command:
        print("usage: python -m processing.aws.task_entry -- COMMAND ...", file=sys.stderr)
        return 2
    if not needs_s3():  # a local run (the Docker runner): nothing to stage or upload
        try:
            os.execvp(command[0], command)  # noqa: S606 - the task definition's own command
        except OSError as exc:
            print(f"cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
            return 127
    out = Path(os.environ.setdefault("STACWORKS_OUTPUT_DIR", "/tmp/stacworks/out"))  # noqa: S108
    out.mkdir(parents=True, exist_ok=True)
    stage_inputs(out.parent / "inputs")
    code = _run(command)
    prefix = os.environ.get("STACWORKS_OUTPUT_PREFIX")
    if code == 0 and prefix:
        count = upload(out, prefix)
        print(f"uploaded {count} output file(s) to {prefix}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
