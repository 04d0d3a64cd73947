"""Key layout and validation."""

from __future__ import annotations

import pytest

from objectstore import InvalidKey, asset_key, split_asset_key, validate_key, validate_prefix

GOOD = [
    "sentinel-2-l2a/S2A_MSIL2A_20230101T101421_N0509_R022_T32TQM/B04.tif",
    "c/i/a.copc.laz",
    "one",
    "a/b/c/d/e.json",
    "x~y+z=w,v@u:t/file.tif",
]

BAD = {
    "": "empty",
    "/abs/key.tif": "absolute",
    "a/../b.tif": "'..'",
    "..": "'..'",
    "a/./b": "'.'",
    "a//b": "empty segment",
    "a/b/": "empty segment",
    "a\\b": "backslash",
    "a/b\x00.tif": "'\\x00'",
    "a/b\n.tif": "'\\n'",
    "a/b\x7f": "'\\x7f'",
    "a/b c.tif": "' '",
    "a/%2e%2e/b": "'%'",
    "a/b.tif?x=1": "'?'",
    "a/b#c": "'#'",
    ".tmp/x.part": "'.tmp'",
    "a/.hidden": "'.hidden'",
    "a/\u2025/b": "'\u2025'",
    "a/\uff0e\uff0e/b": "'\uff0e'",
    "a/" + "x" * 256: "longer than 255",
    "/".join(["abcdefgh"] * 120): "longer than 1024",
}


@pytest.mark.parametrize("key", GOOD)
def test_valid_keys_pass_unchanged(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(("key", "part"), BAD.items(), ids=[repr(k)[:30] for k in BAD])
def test_invalid_keys_name_the_offending_part(key: str, part: str) -> None:
    with pytest.raises(InvalidKey) as info:
        validate_key(key)
    assert part in str(info.value)
    assert isinstance(info.value, ValueError)


def test_non_string_key_is_invalid() -> None:
    with pytest.raises(InvalidKey, match="expected str"):
        validate_key(b"a/b.tif")  # type: ignore[arg-type]


def test_asset_key_builds_and_splits_the_layout() -> None:
    key = asset_key("sentinel-2-l2a", "S2A_T32TQM_20230101", "B04", "tif")
    assert key == "sentinel-2-l2a/S2A_T32TQM_20230101/B04.tif"
    assert asset_key("c", "i", "pc", ".copc.laz") == "c/i/pc.copc.laz"
    assert split_asset_key("c/i/pc.copc.laz") == ("c", "i", "pc", "copc.laz")


@pytest.mark.parametrize(
    ("args", "part"),
    [
        (("a/b", "i", "k", "tif"), "collection"),
        (("c", "..", "k", "tif"), "item_id"),
        (("c", "i", "", "tif"), "asset_key"),
        (("c", "i", "k.v2", "tif"), "asset_key"),
        (("c", "i", "k", "t/f"), "ext"),
        (("c", "i", "k", ""), "ext"),
        (("c", "i\x00", "k", "tif"), "item_id"),
    ],
)
def test_asset_key_rejects_bad_parts_by_name(args: tuple[str, str, str, str], part: str) -> None:
    with pytest.raises(InvalidKey, match=part):
        asset_key(*args)


def test_split_asset_key_requires_the_layout() -> None:
    with pytest.raises(InvalidKey, match="expected"):
        split_asset_key("c/i/j/k.tif")


def test_prefixes_are_whole_segments() -> None:
    assert validate_prefix("") == ""
    assert validate_prefix("c/i/") == "c/i"
    for bad in ("/", "/c", "c//i", "c/../i", ".tmp"):
        with pytest.raises(InvalidKey):
            validate_prefix(bad)
