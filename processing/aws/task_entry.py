"""The entry point of an algorithm's container on Fargate: run the command, then upload what it
wrote to the task's S3 prefix (``python -m processing.aws.task_entry -- CMD ...``).

Locally the executor stages outputs itself; on Fargate nothing outside the container sees its
disk, so this wrapper carries the task contract's second half: files (and ``outputs.json``) in
``STACWORKS_OUTPUT_DIR`` end up under ``STACWORKS_OUTPUT_PREFIX``, where the platform reads them.
It needs only the standard library and boto3 (``AWS_ENDPOINT_URL_S3`` points it elsewhere).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["main", "upload"]


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


def main(argv: list[str]) -> int:
    """Run ``argv`` (after ``--``) under the contract; upload its outputs when it succeeds."""
    command = argv[argv.index("--") + 1:] if "--" in argv else argv
    if not command:
        print("usage: python -m processing.aws.task_entry -- COMMAND ...", file=sys.stderr)
        return 2
    out = Path(os.environ.setdefault("STACWORKS_OUTPUT_DIR", "/tmp/stacworks/out"))  # noqa: S108
    out.mkdir(parents=True, exist_ok=True)
    code = subprocess.call(command)  # noqa: S603 - the task definition's own command
    prefix = os.environ.get("STACWORKS_OUTPUT_PREFIX")
    if code == 0 and prefix:
        count = upload(out, prefix)
        print(f"uploaded {count} output file(s) to {prefix}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
