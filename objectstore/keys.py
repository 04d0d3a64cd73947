"""Object keys: the `{collection}/{item_id}/{asset_key}.{ext}` layout and its validation.

Keys are deliberately a small ASCII alphabet. The same key becomes a file path, an S3 key,
a `/vsis3/` path for GDAL and part of a URL, so every character that means something in one
of those (`/` aside) is refused rather than escaped: no `%` (so no percent-encoding tricks),
no `?`/`#`, no backslash, no whitespace or control characters, and no segment that starts
with a dot (so no `.`/`..`, and `.tmp/` stays reserved for the local store's temp files).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .errors import InvalidKey

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_SEGMENT_LENGTH",
    "AssetKey",
    "asset_key",
    "split_asset_key",
    "validate_key",
    "validate_prefix",
]

#: S3's limit on a key (in bytes; keys are ASCII so bytes == characters).
MAX_KEY_LENGTH = 1024
#: Common file-system limit on one path component.
MAX_SEGMENT_LENGTH = 255

_SEGMENT_CHARS = r"A-Za-z0-9._~+=,@:\-"
_SEGMENT_RE = re.compile(rf"[{_SEGMENT_CHARS}]+")
_BAD_CHAR_RE = re.compile(rf"[^{_SEGMENT_CHARS}/]")
_EXT_RE = re.compile(r"[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*")


def _show(value: str) -> str:
    """Quote a caller-supplied value for an error message, escaped and bounded."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "...'"


def _check_segment(segment: str, *, what: str, whole: str) -> None:
    if not segment:
        raise InvalidKey(f"invalid {what} {_show(whole)}: empty segment", key=whole)
    if segment in (".", ".."):
        raise InvalidKey(
            f"invalid {what} {_show(whole)}: dot segment {_show(segment)} is not allowed",
            key=whole,
        )
    if segment.startswith("."):
        raise InvalidKey(
            f"invalid {what} {_show(whole)}: segment {_show(segment)} starts with '.'",
            key=whole,
        )
    if len(segment) > MAX_SEGMENT_LENGTH:
        raise InvalidKey(
            f"invalid {what} {_show(whole)}: segment longer than {MAX_SEGMENT_LENGTH}",
            key=whole,
        )
    if not _SEGMENT_RE.fullmatch(segment):
        bad = _BAD_CHAR_RE.search(segment)
        char = _show(bad.group()) if bad else "?"
        raise InvalidKey(
            f"invalid {what} {_show(whole)}: character {char} in segment {_show(segment)}",
            key=whole,
        )


def validate_key(key: str, *, what: str = "key") -> str:
    """Return ``key`` unchanged if it is a valid object key, else raise :class:`InvalidKey`.

    A key is one or more `/`-separated segments of ``[A-Za-z0-9._~+=,@:-]`` that do not
    start with a dot; no leading or trailing slash, no empty segment, at most 1024 chars.
    """
    if not isinstance(key, str):
        raise InvalidKey(f"invalid {what}: expected str, got {type(key).__name__}")
    if not key:
        raise InvalidKey(f"invalid {what}: empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"invalid {what} {_show(key)}: longer than {MAX_KEY_LENGTH}", key=key)
    if key.startswith("/"):
        raise InvalidKey(f"invalid {what} {_show(key)}: absolute path", key=key)
    if "\\" in key:
        raise InvalidKey(f"invalid {what} {_show(key)}: backslash", key=key)
    for segment in key.split("/"):
        _check_segment(segment, what=what, whole=key)
    return key


def validate_prefix(prefix: str) -> str:
    """Normalise a listing/deletion prefix: ``""`` or whole segments, without the final slash.

    Prefixes are folder-like on both stores: ``"a/b"`` covers ``a/b/...`` but not ``a/bc``.
    """
    if not isinstance(prefix, str):
        raise InvalidKey(f"invalid prefix: expected str, got {type(prefix).__name__}")
    if prefix == "":
        return ""
    trimmed = prefix[:-1] if prefix.endswith("/") else prefix
    if not trimmed:
        raise InvalidKey(f"invalid prefix {_show(prefix)}: absolute path", key=prefix)
    return validate_key(trimmed, what="prefix")


class AssetKey(NamedTuple):
    """The parts of a key in the asset layout."""

    collection: str
    item_id: str
    asset_key: str
    ext: str


def asset_key(collection: str, item_id: str, asset_key: str, ext: str) -> str:
    """Build the key ``{collection}/{item_id}/{asset_key}.{ext}``, validating every part.

    Args:
        collection: STAC collection id (one segment).
        item_id: STAC item id (one segment).
        asset_key: the asset's key in the item's ``assets`` (one segment, no dot).
        ext: file extension, with or without its leading dot (``tif``, ``.copc.laz``).

    Raises:
        InvalidKey: naming the offending part.
    """
    parts = {"collection": collection, "item_id": item_id, "asset_key": asset_key}
    for name, value in parts.items():
        if not isinstance(value, str):
            raise InvalidKey(f"invalid {name}: expected str, got {type(value).__name__}")
        if "/" in value:
            raise InvalidKey(f"invalid {name} {_show(value)}: contains '/'", key=value)
        _check_segment(value, what=name, whole=value)
    if "." in asset_key:
        # Keeps the key -> parts split unambiguous: the extension starts at the first dot.
        raise InvalidKey(f"invalid asset_key {_show(asset_key)}: contains '.'", key=asset_key)
    if not isinstance(ext, str):
        raise InvalidKey(f"invalid ext: expected str, got {type(ext).__name__}")
    bare = ext[1:] if ext.startswith(".") else ext
    if not _EXT_RE.fullmatch(bare):
        raise InvalidKey(f"invalid ext {_show(ext)}: expected letters/digits like 'tif'", key=ext)
    return validate_key(f"{collection}/{item_id}/{asset_key}.{bare}")


def split_asset_key(key: str) -> AssetKey:
    """Inverse of :func:`asset_key` (the extension is everything after the first dot)."""
    validate_key(key)
    parts = key.split("/")
    if len(parts) != 3 or "." not in parts[2]:
        layout = "{collection}/{item_id}/{asset_key}.{ext}"
        raise InvalidKey(f"invalid key {_show(key)}: expected {layout!r}", key=key)
    name, ext = parts[2].split(".", 1)
    return AssetKey(parts[0], parts[1], name, ext)
