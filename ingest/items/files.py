"""The STAC file extension's fields of a stored asset: size and multihash checksum."""

from __future__ import annotations

import hashlib
from pathlib import Path

FILE_EXTENSION = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
#: Multihash prefix of sha2-256: function code 0x12, digest length 0x20 (32 bytes).
SHA256_MULTIHASH_PREFIX = "1220"


def file_fields(path: Path) -> dict[str, object]:
    """``file:size`` and ``file:checksum`` (hex multihash, as the extension defines it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return {
        "file:size": path.stat().st_size,
        "file:checksum": SHA256_MULTIHASH_PREFIX + digest.hexdigest(),
    }
