"""LocalStore specifics: the temp folder, conflicts, permissions, crash leftovers."""

from __future__ import annotations

import errno
import os
import stat
import time
from datetime import timedelta
from pathlib import Path

import pytest

from objectstore import InvalidKey, LocalStore, StoreConfigError, StoreError


def test_temp_folder_is_inside_the_root_and_left_empty(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    store.put_bytes("c/i/a.tif", b"a")
    tmp = store.root / ".tmp"
    assert tmp.is_dir() and tmp.stat().st_dev == store.root.stat().st_dev
    assert list(tmp.iterdir()) == []
    assert [o.key for o in store.list()] == ["c/i/a.tif"]  # .tmp never listed


def test_written_files_honour_the_umask(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    store.put_bytes("c/i/a.tif", b"a")
    mode = stat.S_IMODE((store.root / "c/i/a.tif").stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_key_and_folder_conflicts_are_invalid_keys(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    store.put_bytes("c/i/a.tif", b"a")
    with pytest.raises(InvalidKey, match="conflicts"):
        store.put_bytes("c/i", b"folder already")
    with pytest.raises(InvalidKey, match="conflicts"):
        store.put_bytes("c/i/a.tif/x", b"object already")
    assert store.get("c/i/a.tif") == b"a"
    assert list((store.root / ".tmp").iterdir()) == []


def test_delete_prunes_empty_folders(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    store.put_bytes("c/i/a.tif", b"a")
    store.put_bytes("c/j/b.tif", b"b")
    store.delete("c/i/a.tif")
    assert not (store.root / "c" / "i").exists()
    assert (store.root / "c" / "j").is_dir()
    store.delete_prefix("c")
    assert sorted(p.name for p in store.root.iterdir()) == [".tmp"]


def test_os_errors_become_store_errors_without_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path / "objects")

    def denied(src: object, dst: object) -> None:
        raise PermissionError(13, "Permission denied", str(dst))

    def full(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr("objectstore._local.os.replace", denied)
    with pytest.raises(StoreConfigError, match="permission denied") as info:
        store.put_bytes("c/i/a.tif", b"a")
    assert str(tmp_path) not in str(info.value)
    monkeypatch.setattr("objectstore._local.os.replace", full)
    with pytest.raises(StoreError, match="ENOSPC") as error:
        store.put_bytes("c/i/a.tif", b"a")
    assert str(tmp_path) not in str(error.value)
    assert list((store.root / ".tmp").iterdir()) == []


def test_purge_temp_removes_only_old_leftovers(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    old = store.root / ".tmp" / "crashed.part"
    new = store.root / ".tmp" / "in-flight.part"
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    past = time.time() - 2 * 86400
    os.utime(old, (past, past))
    assert store.purge_temp(timedelta(days=1)) == 1
    assert not old.exists() and new.exists()


def test_missing_root_without_create_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(StoreConfigError):
        LocalStore(tmp_path / "nope", create=False)


def test_relative_root_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = LocalStore("rel/objects")
    monkeypatch.chdir("/")
    store.put_bytes("c/i/a.tif", b"a")
    assert store.gdal_path("c/i/a.tif") == str(tmp_path / "rel/objects/c/i/a.tif")
