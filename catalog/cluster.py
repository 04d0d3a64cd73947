"""A private PostgreSQL + PostGIS cluster in the data folder, driven by the system's binaries.

Why not pytest-postgresql or testing.postgresql: the same code serves the CLI (`stacworks db
start`), the demo and the tests, and it must work as root (PostgreSQL refuses to run as root, so
we drop to the ``postgres`` system user) and give clear errors for what is missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from catalog.errors import (
    BadCredentials,
    DatabaseUnreachable,
    DataFolderNotWritable,
    PortInUse,
    PostgisMissing,
    PostgresMissing,
    SetupError,
)
from catalog.settings import CatalogSettings

INSTALL_HINT = (
    "install them with: sudo apt-get install -y postgresql-15 postgresql-15-postgis-3 "
    "(or run `make setup` as root), or point STACWORKS_DATABASE_URL at an existing "
    "PostgreSQL with PostGIS"
)


def find_pg_bin(explicit: Path | None = None) -> Path:
    """Locate the folder holding initdb and pg_ctl (newest Debian version first)."""
    candidates: list[Path] = []
    if explicit:
        if (explicit / "initdb").exists() and (explicit / "pg_ctl").exists():
            return explicit
        raise PostgresMissing(f"no initdb/pg_ctl in STACWORKS_PG_BIN={explicit}; {INSTALL_HINT}")
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted(
            (p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: -int(p.name)
        )
        candidates.extend(v / "bin" for v in versions)
    for which in ("initdb", "pg_ctl"):
        found = shutil.which(which)
        if found:
            candidates.append(Path(found).resolve().parent)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise PostgresMissing(f"PostgreSQL server binaries (initdb, pg_ctl) not found; {INSTALL_HINT}")


def _sharedir(pg_bin: Path) -> Path:
    pg_config = pg_bin / "pg_config"
    if pg_config.exists():
        out = subprocess.run([pg_config, "--sharedir"], capture_output=True, text=True)
        if out.returncode == 0:
            return Path(out.stdout.strip())
    return Path("/usr/share/postgresql") / pg_bin.parent.name


def check_postgis(pg_bin: Path) -> None:
    """Fail early, with the package to install, when PostGIS is not available to this server."""
    control = _sharedir(pg_bin) / "extension" / "postgis.control"
    if not control.exists():
        version = pg_bin.parent.name
        raise PostgisMissing(
            f"PostGIS is not installed for PostgreSQL {version}; install it with: "
            f"sudo apt-get install -y postgresql-{version}-postgis-3"
        )


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class ClusterStatus:
    running: bool
    managed: bool
    data_dir: Path | None
    port: int | None
    dsn: str
    detail: str


class LocalCluster:
    """The private cluster under ``$STACWORKS_HOME/pgdata``, listening on 127.0.0.1 only."""

    def __init__(self, settings: CatalogSettings) -> None:
        self.settings = settings
        self.home = settings.home
        self.data_dir = self.home / "pgdata"
        self.run_dir = self.home / "run"
        self.log_file = self.home / "logs" / "postgresql.log"

    # -- running as the right user -------------------------------------------------------
    def _runas(self) -> pwd.struct_passwd | None:
        """PostgreSQL refuses to run as root: use the ``postgres`` system user then."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError as e:
            raise SetupError(
                "running as root but there is no 'postgres' system user to run the database "
                f"as; {INSTALL_HINT}"
            ) from e

    def _cmd(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        user = self._runas()
        env = {**os.environ, "LC_ALL": "C.UTF-8"}
        if user is None:
            return subprocess.run(args, capture_output=True, text=True, env=env, check=False)

        def demote() -> None:
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)

        env["HOME"] = user.pw_dir
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            env=env,
            check=False,
            preexec_fn=demote,
            cwd="/",
        )

    def _prepare_dirs(self) -> None:
        try:
            for d in (self.home, self.run_dir, self.log_file.parent):
                d.mkdir(parents=True, exist_ok=True)
            probe = self.home / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as e:
            raise DataFolderNotWritable(
                f"data folder {self.home} is not writable ({e.strerror}); set STACWORKS_HOME "
                "to a folder you can write"
            ) from e
        user = self._runas()
        if user is not None:
            # The server user needs to traverse every parent and own what it writes.
            for d in (self.run_dir, self.log_file.parent):
                os.chown(d, user.pw_uid, user.pw_gid)
            if self.data_dir.exists():
                os.chown(self.data_dir, user.pw_uid, user.pw_gid)
            can_write = self._cmd(["test", "-w", str(self.run_dir)])
            if can_write.returncode != 0:
                raise DataFolderNotWritable(
                    f"the 'postgres' user cannot reach {self.home} (a parent folder is not "
                    "traversable); set STACWORKS_HOME to a folder like /var/tmp/stacworks"
                )

    # -- lifecycle -----------------------------------------------------------------------
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        pg_bin = find_pg_bin(self.settings.pg_bin)
        check_postgis(pg_bin)
        self._prepare_dirs()
        if self.initialised():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._runas()
        if user is not None:
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        os.chmod(self.data_dir, 0o700)
        res = self._cmd(
            [
                str(pg_bin / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.settings.db_user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        )
        if res.returncode != 0:
            raise SetupError(f"initdb failed: {res.stderr.strip()[-500:]}")

    def running(self) -> bool:
        pg_bin = find_pg_bin(self.settings.pg_bin)
        if not self.initialised():
            return False
        res = self._cmd([str(pg_bin / "pg_ctl"), "-D", str(self.data_dir), "status"])
        return res.returncode == 0

    def start(self, timeout: float = 60) -> None:
        """Initialise if needed, start, and create the database; idempotent."""
        self.init()
        pg_bin = find_pg_bin(self.settings.pg_bin)
        if not self.running():
            port = self.settings.db_port
            if not port_free(port):
                raise PortInUse(
                    f"port {port} on 127.0.0.1 is in use by another program; choose another "
                    "with STACWORKS_DB_PORT"
                )
            opts = (
                f"-p {port} -k {self.run_dir} -c listen_addresses=127.0.0.1 "
                "-c max_connections=200 -c shared_buffers=256MB -c fsync=on "
                "-c log_min_messages=warning"
            )
            res = self._cmd(
                [
                    str(pg_bin / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "start",
                ]
            )
            if res.returncode != 0:
                tail = ""
                if self.log_file.exists():
                    tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-5:])
                raise SetupError(f"PostgreSQL did not start: {res.stderr.strip()} {tail}".strip())
        self._ensure_database()

    def stop(self) -> None:
        if not self.initialised():
            return
        pg_bin = find_pg_bin(self.settings.pg_bin)
        if self.running():
            self._cmd(
                [str(pg_bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"]
            )

    def _ensure_database(self) -> None:
        admin = self.settings.dsn.rsplit("/", 1)[0] + "/postgres"
        with connect(admin, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.settings.db_name,)
            ).fetchone()
            if not exists:
                # Identifier from settings (code/operator), quoted by psycopg: never from a request.
                conn.execute(
                    psycopg.sql.SQL("CREATE DATABASE {}").format(
                        psycopg.sql.Identifier(self.settings.db_name)
                    )
                )


def connect(dsn: str, *, autocommit: bool = False, timeout: int = 5) -> psycopg.Connection:
    """Connect, turning libpq failures into the set-up vocabulary (no password in messages)."""
    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=timeout)
    except psycopg.OperationalError as e:
        msg = str(e)
        if "authentication failed" in msg or ("role" in msg and "does not exist" in msg):
            raise BadCredentials(
                "the database rejected the user name or password (check STACWORKS_DATABASE_URL)"
            ) from None
        if "does not exist" in msg and "database" in msg:
            raise DatabaseUnreachable(
                "the database named in the connection string does not exist"
            ) from None
        raise DatabaseUnreachable(
            "cannot reach the database (is it running? check STACWORKS_DATABASE_URL or run "
            "`stacworks db start`)"
        ) from None


def status(settings: CatalogSettings) -> ClusterStatus:
    """Whether the catalog database answers, for `stacworks db status`."""
    cluster = LocalCluster(settings) if settings.managed else None
    try:
        with connect(settings.dsn) as conn:
            version = conn.execute("SELECT version()").fetchone()
        detail = str(version[0]) if version else ""
        running = True
    except SetupError as e:
        detail, running = str(e), False
    return ClusterStatus(
        running=running,
        managed=settings.managed,
        data_dir=cluster.data_dir if cluster else None,
        port=settings.db_port if settings.managed else None,
        dsn=settings.safe_dsn,
        detail=detail,
    )


def wait_for(dsn: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with connect(dsn, timeout=2):
                return
        except SetupError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
