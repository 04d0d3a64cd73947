"""The `stacworks` command line: database, serving, loading and the demo."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from catalog.cluster import LocalCluster, port_free, status, wait_for
from catalog.errors import CatalogError
from catalog.settings import CatalogSettings

app = typer.Typer(
    help="stacworks: a catalog-first Earth-observation platform.", no_args_is_help=True
)
db_app = typer.Typer(help="The catalog database (a private cluster, or STACWORKS_DATABASE_URL).")
app.add_typer(db_app, name="db")
err = Console(stderr=True)
out = Console()


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Show our errors as one clear line (exit 1), never as a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CatalogError as e:
            err.print(f"[bold red]error:[/] {e}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper


def _settings() -> CatalogSettings:
    return CatalogSettings()


def ensure_database(settings: CatalogSettings, *, migrate_schema: bool = True) -> None:
    """Start the private cluster when we manage it, then install/upgrade the schemas."""
    from catalog.migrate import migrate

    if settings.managed:
        LocalCluster(settings).start()
    wait_for(settings.dsn, timeout=10)
    if migrate_schema:
        migrate(settings.dsn)


@db_app.command("start")
@friendly
def db_start() -> None:
    """Create (first time) and start the private PostgreSQL + PostGIS cluster."""
    s = _settings()
    if not s.managed:
        err.print("STACWORKS_DATABASE_URL is set: using that database, no cluster to start.")
        wait_for(s.dsn, timeout=10)
        return
    LocalCluster(s).start()
    out.print(f"database running at {s.safe_dsn} (data in {s.home / 'pgdata'})")


@db_app.command("stop")
@friendly
def db_stop() -> None:
    """Stop the private cluster (nothing to do for an external database)."""
    s = _settings()
    if s.managed:
        LocalCluster(s).stop()
        out.print("database stopped")


@db_app.command("status")
@friendly
def db_status() -> None:
    """Say whether the catalog database answers (exit 1 when it does not)."""
    st = status(_settings())
    kind = "private cluster" if st.managed else "external database"
    out.print(f"{kind}: {'running' if st.running else 'not running'} — {st.dsn}")
    out.print(st.detail)
    if not st.running:
        raise typer.Exit(1)


@db_app.command("migrate")
@friendly
def db_migrate() -> None:
    """Install or upgrade pgstac and the stacworks schema (idempotent)."""
    from catalog.migrate import migrate

    s = _settings()
    wait_for(s.dsn, timeout=10)
    res = migrate(s.dsn)
    out.print(f"pgstac {res.pgstac_version}, stacworks schema revision {res.schema_revision}")


class LoadMode(StrEnum):
    insert = "insert"
    upsert = "upsert"
    ignore = "ignore"


class RendersMode(StrEnum):
    none = "none"
    auto = "auto"


def load_with_progress(settings: CatalogSettings, paths: list[Path], mode: str) -> set[str]:
    """Load the files; returns the ids of the collections they hold or add items to."""
    from catalog.load import load_paths, scan

    plan = scan(paths)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal and "--progress" not in sys.argv,
    ) as progress:
        task = progress.add_task("loading items", total=plan.n_items)

        def on_progress(kind: str, n: int) -> None:
            if kind == "items":
                progress.advance(task, n)

        summary = load_paths(settings.dsn, plan, mode=mode, progress=on_progress)  # type: ignore[arg-type]
    out.print(f"loaded {summary.collections} collection(s) and {summary.items} item(s) ({mode})")
    return set(plan.collections) | {c for c, _ in plan.item_keys}


@app.command("load")
@friendly
def load(
    paths: Annotated[list[Path], typer.Argument(help="JSON, NDJSON or FeatureCollection files.")],
    mode: Annotated[LoadMode, typer.Option(help="What to do with existing ids.")] = LoadMode.insert,
    renders: Annotated[RendersMode, typer.Option(
        help="auto: derive render presets (map/WMTS/WMS layers) for loaded collections "
        "that have none.")] = RendersMode.none,
) -> None:
    """Bulk-load collections and items (checked before anything is written)."""
    s = _settings()
    wait_for(s.dsn, timeout=10)
    loaded = load_with_progress(s, paths, mode.value)
    if renders is RendersMode.auto and loaded:
        from tiler.presets import auto_renders

        changed = auto_renders(s.dsn, sorted(loaded))
        out.print(f"render presets derived for {len(changed)} collection(s)"
                  + (f": {', '.join(changed)}" if changed else ""))


def _serve(
    host: str,
    port: int,
    services: list[str] | None,
    settings: CatalogSettings,
    *,
    access_log: bool = False,
) -> None:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from catalog.access import AccessSettings
    from catalog.access.logs import ScrubSecrets
    from stacworks.app import create_app
    from tiler.settings import TilerSettings

    if not port_free(port, host if host not in ("0.0.0.0", "localhost") else "127.0.0.1"):
        raise CatalogError(f"port {port} on {host} is in use; choose another with --port")
    auth = AccessSettings()  # checked here, at start-up
    application = create_app(settings, services)
    if not auth.enabled:
        err.print(
            "[bold yellow]warning:[/] STACWORKS_AUTH_ENABLED=false: every caller may read "
            "and write everything"
        )
    out.print(f"serving on http://{host}:{port}/ (Ctrl-C to stop)")
    # key=/token= in tile URLs never reach a log line: a filter on every uvicorn handler.
    log_config = {
        **LOGGING_CONFIG,
        "filters": {"scrub": {"()": ScrubSecrets}},
        "handlers": {
            name: {**h, "filters": ["scrub"]} for name, h in LOGGING_CONFIG["handlers"].items()
        },
    }
    uvicorn.run(
        application,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=auth.trusted_proxies,
        log_level="info" if access_log else "warning",
        access_log=access_log,
        log_config=log_config,
        # SIGTERM: requests still running after the grace period are cancelled (a tile's
        # reads stop at their next checkpoint, tiler.budget) instead of holding the exit.
        # uvicorn takes whole seconds; round up so the grace is never shorter than asked.
        timeout_graceful_shutdown=math.ceil(TilerSettings().shutdown_grace_s),
    )


@app.command("serve")
@friendly
def serve(
    service: Annotated[
        str | None, typer.Argument(help="One service alone (stac); all when omitted.")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log every request (credentials masked).")
    ] = False,
) -> None:
    """Serve the platform (STAC under /stac, ...) in one process."""
    from stacworks.app import SERVICES

    if service is not None and service not in SERVICES:
        raise CatalogError(f"unknown service {service!r}; choose from {sorted(SERVICES)}")
    s = _settings()
    ensure_database(s)
    _serve(host, port, [service] if service else None, s, access_log=access_log)


DEMO_FILES = [
    "stac/joplin/collection.json",
    "stac/joplin/index.geojson",
    "stac/pgstac-test/collections.json",
    "stac/pgstac-test/items.ndjson",
]


# Collections the offline demo builds by ingesting the real files (COG/COPC in our store, so
# they show as tiles); their remote-only STAC JSON twins in the sample folder are left out.
INGESTED_DEMO = ("sentinel-2-l2a", "landsat-c2l2-sr", "3dep-lidar-copc")
SKIPPED_JSON = {"sentinel-2-l2a", "landsat-c2-l2", "3dep-lidar-copc"}


def demo_paths(source: Path) -> list[Path]:
    """The sample STAC files the offline demo loads from a local data folder."""
    import json

    paths = [source / f for f in DEMO_FILES]
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise CatalogError(f"sample data not found: {missing[0]} (pass --from ../shared/data)")
    for folder in ("stac/earth-search-v1", "stac/planetary-computer"):
        base = source / folder
        if not (base / "collections").is_dir():
            continue
        for p in sorted((base / "collections").glob("*.json")):
            if (
                "queryables" not in p.name
                and json.loads(p.read_text()).get("id") not in SKIPPED_JSON
            ):
                paths.append(p)
        for p in sorted((base / "items").glob("*/*.json")):
            if json.loads(p.read_text()).get("collection") not in SKIPPED_JSON:
                paths.append(p)
    return paths


def ingest_demo_samples(source: Path) -> None:
    """Ingest the folder's real products through the real pipeline, offline.

    The files are published by a loopback STAC API + file server in this process (the same one
    the ingest tests use), and `stacworks ingest --source stac:<url>` runs as a user would.
    """
    import os
    import subprocess
    import sys

    from ingest.samples.publish import publish_landsat, publish_lidar, publish_sentinel2_l2a
    from ingest.samples.static_stac import StaticStac, serve_static_stac

    stac = StaticStac()
    with serve_static_stac(stac) as base:
        publish_sentinel2_l2a(stac, source)
        publish_landsat(stac, source)
        publish_lidar(stac, source, cloud="las/autzen_trim.laz")  # dense, and where it is
        exe = Path(sys.argv[0]).resolve()
        env = dict(os.environ)
        mirror = source / "stac-schemas"  # offline: validate items against the local mirror
        if mirror.is_dir():
            env.setdefault("STACWORKS_INGEST_SCHEMA_MIRROR", str(mirror))
        for collection in INGESTED_DEMO:
            out.print(f"ingesting the sample {collection} products")
            cmd = [str(exe), "ingest", "--source", f"stac:{base}", "--collection", collection]
            res = subprocess.run(cmd, check=False, env=env)
            if res.returncode != 0:
                raise CatalogError(f"the demo ingest of {collection} failed (see above)")


@app.command("demo")
@friendly
def demo(
    source: Annotated[
        Path, typer.Option("--from", help="Local folder of sample data (offline demo).")
    ] = Path("../shared/data"),
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Load only, do not serve.")] = False,
) -> None:
    """Start the database, load the demo catalog, ingest the sample products, and serve."""
    s = _settings()
    ensure_database(s)
    load_with_progress(s, demo_paths(source.resolve()), "upsert")
    ingest_demo_samples(source.resolve())
    from tiler.render import add_default_renders

    add_default_renders(s.dsn)  # render presets, so tiles and WMTS draw with no parameters
    register_demo_algorithms()
    _demo_access(s, demo_paths(source.resolve()))
    if not no_serve:
        _serve(host, port, None, s)


def register_demo_algorithms() -> None:
    """The shipped example algorithms (ndvi, lidar-dtm, median-composite), so the web map's
    workflow list is not empty; `--replace` keeps a re-run idempotent."""
    import subprocess
    import sys

    shipped = sorted((Path(__file__).resolve().parents[1] / "algorithms").glob("*.yaml"))
    if not shipped:
        return
    cmd = [
        str(Path(sys.argv[0]).resolve()),
        "algorithm",
        "register",
        "--replace",
        *map(str, shipped),
    ]
    if subprocess.run(cmd, check=False).returncode != 0:
        raise CatalogError("registering the example algorithms failed (see above)")


def _demo_access(settings: CatalogSettings, paths: list[Path]) -> None:
    """The demo's collections are public; an admin key is created and shown (once)."""
    import json

    from catalog.access import AccessRecords, AccessSettings

    store = AccessRecords(settings.dsn, pooled=False)
    ids: list[str] = []
    for path in paths:
        if path.suffix == ".json":
            try:
                doc = json.loads(path.read_text())
            except ValueError:
                continue
            docs = doc if isinstance(doc, list) else doc.get("collections", [doc])
            ids += [d["id"] for d in docs if isinstance(d, dict) and "extent" in d and "id" in d]
    ids += list(INGESTED_DEMO)  # the collections the sample ingest created
    for cid in dict.fromkeys(ids):
        if store.collection_exists(cid):
            store.set_visibility(cid, "public")
    if not AccessSettings().enabled:
        return
    if any(k.get("role") == "admin" and not k.get("revoked_at") for k in store.list_keys()):
        out.print("demo collections are public (admin keys: `stacworks key list`)")
        return  # a re-run: the admin key was shown the first time
    key = store.create_key("demo admin", "admin")
    # soft_wrap: the key must stay on one line, whatever the terminal width, to be copied.
    out.print(
        f"demo collections are public; admin API key (shown once): {key['token']}",
        soft_wrap=True,
    )


def _ensure_database_quietly(settings: CatalogSettings) -> None:
    """ensure_database, minus the migration pass when our schema is already at head: ingest
    commands run often (and in tests), and importing pypgstac + alembic costs ~2 s each time."""
    import psycopg

    if settings.managed:
        LocalCluster(settings).start()
    wait_for(settings.dsn, timeout=10)
    try:
        with psycopg.connect(settings.dsn) as conn:
            row = conn.execute("SELECT version_num FROM stacworks.alembic_version").fetchone()
    except psycopg.Error:
        row = None
    heads = sorted(
        p.stem.split("_", 1)[0]
        for p in (Path(__file__).parents[1] / "catalog/migrations/versions").glob("[0-9]*.py")
    )
    if row is None or not heads or row[0] != heads[-1]:
        ensure_database(settings)


def _default_renders(dsn: str, collection_id: str) -> None:
    """A collection created by ingest gets the tiler's render presets, like the demo's."""
    from tiler.render import add_default_renders

    add_default_renders(dsn, only=[collection_id])


def _register_ingest() -> None:
    """`stacworks ingest ...` and `stacworks worker` (built by ingest, given our DB set-up)."""
    from ingest.cli import build_cli

    ingest_app, run_worker = build_cli(_ensure_database_quietly, _default_renders)
    app.add_typer(ingest_app, name="ingest")

    @app.command("worker")
    def worker(
        concurrency: Annotated[int, typer.Option(min=1, help="Products processed at once.")] = 1,
        debug: Annotated[bool, typer.Option("--debug", help="Logs with tracebacks.")] = False,
    ) -> None:
        """Process queued ingest products until stopped (Ctrl-C finishes running ones)."""
        run_worker(concurrency, debug)


_register_ingest()


def _register_renders() -> None:
    from stacworks.renders_cli import renders_app

    app.add_typer(renders_app, name="renders")


_register_renders()

key_app = typer.Typer(help="API keys (stored hashed; a token is shown once, at creation).")
app.add_typer(key_app, name="key")


def _access_store() -> Any:
    from catalog.access import AccessRecords

    s = _settings()
    _ensure_database_quietly(s)
    return AccessRecords(s.dsn, pooled=False)


@key_app.command("create")
@friendly
def key_create(
    name: Annotated[str, typer.Argument(help="What the key is for (shown in listings).")],
    role: Annotated[str, typer.Option(help="admin, editor or viewer.")] = "viewer",
    expires_in_days: Annotated[
        float | None, typer.Option(help="Expire after this many days (never by default).")
    ] = None,
) -> None:
    """Create an API key and print its token (the only time it is shown)."""
    from datetime import UTC, datetime, timedelta

    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    key = _access_store().create_key(name, role, expires_at=expires, created_by="cli")
    err.print(f"key {key['id']} ({key['role']}) created; its token is shown once:")
    out.print(key["token"])


@key_app.command("list")
@friendly
def key_list() -> None:
    """List API keys (id, name, role, state), never their tokens."""
    for k in _access_store().list_keys():
        state = (
            "revoked"
            if k["revoked_at"]
            else f"expires {k['expires_at']}"
            if k["expires_at"]
            else "active"
        )
        out.print(f"{k['id']}\t{k['role']}\t{state}\t{k['name']}")


@key_app.command("revoke")
@friendly
def key_revoke(key_id: Annotated[str, typer.Argument(help="The key id (from key list).")]) -> None:
    """Revoke an API key at once."""
    _access_store().revoke_key(key_id)
    out.print(f"key {key_id} revoked")


@app.command("visibility")
@friendly
def visibility(
    collection: Annotated[str, typer.Argument(help="Collection id.")],
    value: Annotated[str, typer.Argument(help="public or private.")],
) -> None:
    """Make a collection public or private."""
    res = _access_store().set_visibility(collection, value)
    out.print(f"{res['collection']}: {res['visibility']}")


def _register_processing() -> None:
    """`stacworks algorithm ...` and `stacworks workflow ...` (built by processing)."""
    from processing.cli import build_cli

    algorithm_app, workflow_app = build_cli(_ensure_database_quietly)
    app.add_typer(algorithm_app, name="algorithm")
    app.add_typer(workflow_app, name="workflow")
    from processing.triggers.cli import build_cli as build_trigger_cli

    schedule_app, subscribe_app = build_trigger_cli(_ensure_database_quietly)
    app.add_typer(schedule_app, name="schedule")
    app.add_typer(subscribe_app, name="subscribe")


_register_processing()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
