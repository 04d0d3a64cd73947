"""A local folder as an object store: the default, one-machine backend."""

from __future__ import annotations

import errno
import os
import shutil
import stat as stat_mod
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from ._base import ObjectInfo, ObjectStore, Readable, expiry_seconds
from .errors import InvalidKey, ObjectNotFound, StoreConfigError, StoreError
from .keys import validate_key, validate_prefix

__all__ = ["LocalStore"]

_CHUNK = 1024 * 1024
#: Reserved folder (inside the root, so on the same file system) for in-flight writes.
TMP_DIR = ".tmp"
#: How long, and for how many paths, :meth:`LocalStore._inside` remembers its answer.
_INSIDE_CACHE_S = 5.0
_INSIDE_CACHE_SIZE = 4096


def _info(key: str, st: os.stat_result) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=st.st_size,
        etag=f"{st.st_mtime_ns:x}-{st.st_size:x}",
        modified=datetime.fromtimestamp(st.st_mtime, tz=UTC),
    )


def _fsync_dir(path: Path) -> None:
    """Persist a rename: without it a crash can forget the directory entry."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _translate(op: str, key: str, *, reading: bool) -> Iterator[None]:
    """Map OS errors to store errors; messages carry the key, never the absolute path."""
    try:
        yield
    except (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
        if reading:
            raise ObjectNotFound(f"no object at key {key!r}", key=key) from exc
        if isinstance(exc, FileNotFoundError):
            raise StoreError(
                f"local store {op} of {key!r} failed: folder vanished", key=key
            ) from exc
        raise InvalidKey(
            f"invalid key {key!r}: conflicts with an existing object or folder on its path",
            key=key,
        ) from exc
    except PermissionError as exc:
        raise StoreConfigError(
            f"permission denied during {op} of {key!r} in the local store", key=key
        ) from exc
    except OSError as exc:
        code = errno.errorcode.get(exc.errno or 0, "EIO")
        raise StoreError(f"local store {op} of {key!r} failed ({code})", key=key) from exc


class LocalStore(ObjectStore):
    """Objects as files under ``root``; writes go to ``root/.tmp`` then ``os.replace``.

    The temp folder lives inside the root so the final rename never crosses a file system
    (``os.replace`` is only atomic within one). Files and their folder are fsynced before
    the write returns, so a completed ``put`` survives a crash.

    Keys resolving outside the root through symlinks are refused, but the check and the
    open are two steps: the root must be writable only by the platform itself.

    Args:
        root: the store's folder; defaults to ``$STACWORKS_HOME/objects``.
        create: create the root (and ``.tmp``) if missing.
        fsync: fsync files and folders on write (turn off only for throwaway stores).
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        fsync: bool = True,
    ) -> None:
        if root is None:
            from .settings import default_local_root

            root = default_local_root()
        self.root = Path(os.path.abspath(os.path.expanduser(os.fspath(root))))
        self._fsync = fsync
        if create:
            try:
                (self.root / TMP_DIR).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreConfigError("cannot create the local store folder") from exc
        elif not self.root.is_dir():
            raise StoreConfigError("the local store folder does not exist")
        self._real_root = os.path.realpath(self.root)
        self._inside_cache: dict[str, tuple[float, bool]] = {}

    def __repr__(self) -> str:
        return f"LocalStore(root={str(self.root)!r})"

    # -- paths -----------------------------------------------------------------------------

    def _inside(self, path: str) -> bool:
        """Whether ``path`` resolves inside the root, remembered for a few seconds.

        ``realpath`` is one ``lstat`` per path component, each releasing the GIL: in a tile
        server whose reader threads keep the GIL busy, every one of them waits for its turn
        again (a tenth of a busy mosaic's samples, bench/tiles). The answer only changes when
        symlinks in the store change, which the class already requires only the platform do.
        """
        now = time.monotonic()
        cached = self._inside_cache.get(path)
        if cached is not None and cached[0] > now:
            return cached[1]
        real = os.path.realpath(path)
        inside = real == self._real_root or real.startswith(self._real_root + os.sep)
        if len(self._inside_cache) >= _INSIDE_CACHE_SIZE:
            self._inside_cache.clear()
        self._inside_cache[path] = (now + _INSIDE_CACHE_S, inside)
        return inside

    def _path(self, key: str) -> Path:
        """The file for ``key``, refusing keys that resolve (via symlinks) outside the root."""
        validate_key(key)
        path = os.path.join(self.root, key)
        if not self._inside(path):
            raise InvalidKey(f"invalid key {key!r}: resolves outside the store root", key=key)
        return Path(path)

    def _tmp_path(self) -> Path:
        return self.root / TMP_DIR / f"{uuid.uuid4().hex}.part"

    # -- writing ---------------------------------------------------------------------------

    def put_file(self, key: str, path: str | os.PathLike[str]) -> ObjectInfo:
        with open(path, "rb") as src:  # errors about the caller's file stay theirs
            return self.put_stream(key, src)

    def put_stream(self, key: str, fileobj: Readable) -> ObjectInfo:
        dest = self._path(key)
        tmp = self._tmp_path()
        with _translate("put", key, reading=False):
            tmp.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := fileobj.read(_CHUNK):  # the source's errors propagate as-is
                    with _translate("put", key, reading=False):
                        out.write(chunk)
                with _translate("put", key, reading=False):
                    out.flush()
                    if self._fsync:
                        os.fsync(out.fileno())
            with _translate("put", key, reading=False):
                self._commit(tmp, dest)
        except BaseException:
            with suppress(OSError):
                tmp.unlink()
            raise
        return self.stat(key)

    def _commit(self, tmp: Path, dest: Path) -> None:
        # A concurrent delete may prune the freshly made parent folder; retry the pair.
        for attempt in range(3):
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(tmp, dest)
                break
            except FileNotFoundError:
                if attempt == 2 or not tmp.exists():
                    raise
        if self._fsync:
            _fsync_dir(dest.parent)

    # -- reading ---------------------------------------------------------------------------

    def get(self, key: str) -> bytes:
        path = self._path(key)
        with _translate("get", key, reading=True), open(path, "rb") as f:
            return f.read()

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        with _translate("open", key, reading=True):
            return open(path, "rb")

    def download(self, key: str, path: str | os.PathLike[str]) -> ObjectInfo:
        src_path = self._path(key)
        dest = Path(path)
        with _translate("download", key, reading=True):
            src = open(src_path, "rb")  # noqa: SIM115 - closed by the `with src` below
        with src:
            st = os.fstat(src.fileno())
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.part"
            try:
                with open(tmp, "xb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, dest)
            except BaseException:
                with suppress(OSError):
                    tmp.unlink()
                raise
        return _info(key, st)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        with _translate("stat", key, reading=True):
            st = os.stat(path)
        if not stat_mod.S_ISREG(st.st_mode):
            raise ObjectNotFound(f"no object at key {key!r}", key=key)
        return _info(key, st)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        norm = validate_prefix(prefix)
        base = self._path(norm) if norm else self.root
        if not base.is_dir():
            return
        yield from self._walk(str(base), norm)

    def _walk(self, folder: str, key_prefix: str) -> Iterator[ObjectInfo]:
        """Depth-first in exact key order (a folder sorts as ``name/``), like S3 listings."""
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except FileNotFoundError:  # deleted while we were listing
            return
        except OSError as exc:
            raise StoreError(f"local store list of {key_prefix!r} failed") from exc
        keyed = []
        for entry in entries:
            if entry.is_symlink():
                continue  # the store never writes symlinks; do not follow foreign ones
            is_dir = entry.is_dir(follow_symlinks=False)
            keyed.append((entry.name + "/" if is_dir else entry.name, is_dir, entry))
        keyed.sort(key=lambda t: t[0])
        for _, is_dir, entry in keyed:
            key = f"{key_prefix}/{entry.name}" if key_prefix else entry.name
            try:
                validate_key(key)
            except InvalidKey:
                continue  # .tmp, stray hidden files, names no key can have
            if is_dir:
                yield from self._walk(entry.path, key)
            elif entry.is_file(follow_symlinks=False):
                with suppress(FileNotFoundError):
                    yield _info(key, entry.stat(follow_symlinks=False))

    # -- deleting --------------------------------------------------------------------------

    def delete(self, key: str) -> None:
        path = self._path(key)
        if path.is_dir():
            return  # a folder is not an object
        with _translate("delete", key, reading=False), suppress(FileNotFoundError):
            path.unlink()
        self._prune(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        norm = validate_prefix(prefix)
        if not norm:
            raise InvalidKey("invalid prefix '': refusing to delete the whole store")
        base = self._path(norm)
        if not base.is_dir():
            return 0
        count = 0
        with _translate("delete_prefix", norm, reading=False):
            for folder, dirs, files in os.walk(base, topdown=False):
                for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
                    with suppress(FileNotFoundError):
                        os.unlink(os.path.join(folder, name))
                        count += 1
                with suppress(OSError):  # not empty: a concurrent writer got there
                    os.rmdir(folder)
        self._prune(base.parent)
        return count

    def _prune(self, folder: Path) -> None:
        """Remove now-empty parent folders up to (not including) the root."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def purge_temp(self, older_than: timedelta = timedelta(days=1)) -> int:
        """Delete temp files a crashed writer left in ``.tmp`` (older than ``older_than``)."""
        cutoff = time.time() - older_than.total_seconds()
        count = 0
        with os.scandir(self.root / TMP_DIR) as it:
            for entry in it:
                with suppress(FileNotFoundError):
                    if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                        count += 1
        return count

    # -- addressing ------------------------------------------------------------------------

    def gdal_path(self, key: str) -> str:
        return str(self._path(key))

    def href(self, key: str) -> str:
        return str(self._path(key))

    def download_url(self, key: str, expires: int | timedelta = 3600) -> str | None:
        """Always ``None``: local files have no URL of their own, the API serves them."""
        self._path(key)
        expiry_seconds(expires)
        return None

    def key_for_href(self, href: str) -> str | None:
        """Accept an absolute path or ``file:`` URL under the root; ``None`` for anything else.

        Refused: relative paths, ``/vsi*`` paths, other URL schemes, ``file://`` URLs with a
        host other than ``localhost``, any ``.``/``..``/empty segment, characters no key can
        hold (so ``%`` left after the one decoding a ``file:`` URL gets), and paths whose
        real location (after symlinks) is outside the root.
        """
        if not isinstance(href, str):
            return None
        if href[:5].lower() == "file:":
            path = _file_url_path(href[5:])
        elif href.startswith("/") and not href.startswith("//"):
            path = href
        else:
            return None
        if path is None or path.startswith("/vsi"):
            return None
        for root in {str(self.root), self._real_root}:
            if path.startswith(root + "/"):
                key = path[len(root) + 1 :]
                break
        else:
            return None
        try:
            self._path(key)
        except InvalidKey:
            return None
        return key


def _file_url_path(rest: str) -> str | None:
    """The decoded absolute path of a ``file:`` URL (given without the scheme), or None."""
    if rest.startswith("///"):
        encoded = rest[2:]
    elif rest[:12].lower() == "//localhost/":
        encoded = rest[11:]
    elif rest.startswith("/") and not rest.startswith("//"):
        encoded = rest
    else:
        return None
    if "?" in encoded or "#" in encoded:
        return None
    try:
        return unquote(encoded, errors="strict")
    except UnicodeDecodeError:
        return None
