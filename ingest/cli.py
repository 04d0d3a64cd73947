"""`stacworks ingest ...` and `stacworks worker`: typer commands with rich progress.

Built by :func:`build_cli` so the composition root passes in how to reach the database
(start the private cluster, migrate) without ingest importing the CLI package.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from catalog.errors import CatalogError
from catalog.settings import CatalogSettings
from ingest.errors import IngestError
from ingest.source_names import SOURCE_NAMES

if TYPE_CHECKING:
    from ingest.pipeline import Services

# The rest of ingest (rasterio, eodag, procrastinate, ...) is imported inside the commands:
# every `stacworks` command loads this module, and most never ingest.

EnsureDatabase = Callable[[CatalogSettings], None]
NewCollectionHook = Callable[[str, str], object]
err = Console(stderr=True)
out = Console()


class _OneLine(logging.Formatter):
    """A log record as one line: an exception adds its type and first line, not a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            detail = str(exc).strip().splitlines()
            line += f" ({type(exc).__name__}{': ' + detail[0][:300] if detail else ''})"
        return f"{record.levelname.lower()}: {line}"


def _setup_logging(debug: bool) -> None:
    """Worker and library logs on stderr: one line each, tracebacks only with ``--debug``.

    Without it procrastinate's "job failed" records (already reported per product) are quiet.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s") if debug
                         else _OneLine())
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "_stacworks_cli", False)]
    handler._stacworks_cli = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    logging.getLogger("procrastinate").setLevel(logging.DEBUG if debug else logging.CRITICAL)
    # Connection retries are the error's story, told once by the error itself.
    logging.getLogger("urllib3").setLevel(logging.DEBUG if debug else logging.ERROR)


@contextmanager
def _friendly(debug: bool = False) -> Iterator[None]:
    """Our errors as one clear line (exit 1), never a traceback; settings errors included.
    Anything else is one line too, unless ``--debug`` asks for the traceback."""
    from pydantic import ValidationError

    from objectstore import StoreError

    try:
        yield
    except (IngestError, StoreError, CatalogError) as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}")
        raise typer.Exit(1) from None
    except ValidationError as e:
        first = e.errors(include_input=False, include_url=False)[0]
        err.print(f"[bold red]error:[/] settings: {escape(str(first['msg']))}")
        raise typer.Exit(1) from None
    except Exception as e:
        if debug:
            raise
        detail = str(e).strip().splitlines()
        said = ": " + escape(detail[0][:300]) if detail else ""
        err.print(f"[bold red]error:[/] {type(e).__name__}{said} (--debug shows the traceback)")
        raise typer.Exit(1) from None


def _services(catalog: CatalogSettings, hook: NewCollectionHook | None) -> Services:
    from ingest.pipeline import Services
    from ingest.settings import IngestSettings
    from objectstore import store_from_settings

    return Services(catalog, IngestSettings(), store_from_settings(), hook)


def _run_on_aws(svc: Services, source: str, query: Any) -> Any:
    """Start the run as one Step Functions execution and follow it until it ends: the items
    are registered here as each Fargate task ends (tasks never reach the database)."""
    from ingest.aws import AwsIngest
    from processing.aws.backend import manager_from_environment
    from processing.db import Database

    manager = manager_from_environment(Database(svc.dsn, max_size=4))
    try:
        runner = AwsIngest.install(manager, svc)
        started = runner.start(source, query)
        err.print(started.summary())
        if started.job_id is not None:
            job = runner.wait(started.job_id)
            row = manager.executions.get(started.job_id)
            if job != "successful":
                err.print(f"job {started.job_id} {job}: {escape(str(row['error'] or ''))} "
                          f"{escape(str(row['cause'] or ''))}")
        return started
    finally:
        manager.shutdown()


def _parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if not value:
        return None
    try:
        w, s, e, n = (float(v) for v in value.split(","))
    except ValueError:
        raise IngestErrorForCli("bbox: expected four numbers west,south,east,north") from None
    return (w, s, e, n)


class IngestErrorForCli(IngestError):
    status_code = 400


def build_cli(
    ensure_database: EnsureDatabase, on_new_collection: NewCollectionHook | None = None
) -> tuple[typer.Typer, Callable[..., None]]:
    """The `ingest` command group and the `worker` command function."""
    ingest_app = typer.Typer(
        help="Ingest scenes and point clouds from a source into the store and the catalog.",
        invoke_without_command=True,
    )

    @ingest_app.callback()
    def ingest(
        ctx: typer.Context,
        source: Annotated[
            str | None, typer.Option(help=f"Where from: {', '.join(SOURCE_NAMES)}.")
        ] = None,
        collection: Annotated[str | None, typer.Option(help="Collection to search/fill.")] = None,
        bbox: Annotated[str | None, typer.Option(help="west,south,east,north (degrees).")] = None,
        datetime: Annotated[str | None, typer.Option(help="Instant or interval (a/b).")] = None,
        max_cloud: Annotated[float | None, typer.Option(help="Max eo:cloud_cover.")] = None,
        limit: Annotated[int | None, typer.Option(help="At most this many products.")] = None,
        url: Annotated[list[str] | None, typer.Option(help="File or item URL (urls).")] = None,
        asset: Annotated[list[str] | None, typer.Option(help="Only these asset keys.")] = None,
        item_id: Annotated[list[str] | None, typer.Option("--id", help="Only these ids.")] = None,
        queue: Annotated[
            bool,
            typer.Option(
                "--queue", "--no-wait", help="Only queue the products for `stacworks worker`."
            ),
        ] = False,
        concurrency: Annotated[int, typer.Option(min=1, help="Products at once.")] = 1,
        backend: Annotated[
            str,
            typer.Option(
                help="local: here or by `stacworks worker`; aws: one Step Functions "
                "execution, a Fargate task per product (docs/aws.md)."
            ),
        ] = "local",
        as_json: Annotated[bool, typer.Option("--json", help="Print the run status.")] = False,
        progress: Annotated[
            bool,
            typer.Option(
                "--progress", help="Draw progress bars even when stderr is not a terminal."
            ),
        ] = False,
        debug: Annotated[
            bool, typer.Option("--debug", help="Log in detail, with tracebacks.")
        ] = False,
    ) -> None:
        """Search a source and ingest every product found (runs them here unless --queue)."""
        if ctx.invoked_subcommand is not None:
            return
        if source is None:
            err.print(ctx.get_help())
            raise typer.Exit(2)
        _setup_logging(debug)
        with _friendly(debug):
            from ingest.runs import run_status
            from ingest.service import start_run
            from ingest.sources import SearchQuery

            catalog = CatalogSettings()
            ensure_database(catalog)
            svc = _services(catalog, on_new_collection)
            query = SearchQuery(
                collection=collection,
                bbox=_parse_bbox(bbox),
                datetime=datetime,
                max_cloud=max_cloud,
                limit=limit,
                urls=tuple(url or ()),
                assets=tuple(asset or ()),
                ids=tuple(item_id or ()),
            )
            if backend not in ("local", "aws"):
                raise IngestErrorForCli("--backend: expected local or aws")
            if backend == "aws":
                if queue:
                    raise IngestErrorForCli("--queue: not with --backend aws (this command "
                                            "follows the execution and registers the items)")
                started = _run_on_aws(svc, source, query)
            else:
                started = start_run(svc, source, query)
                err.print(started.summary())
                if started.queued and not queue:
                    _run_here(svc, started.run_id, concurrency, progress or err.is_terminal)
            status = run_status(svc.dsn, started.run_id)
            if as_json:
                out.print_json(json.dumps(status))
            elif started.queued and not queue:
                c = status["counts"]
                out.print(
                    f"run {status['id']}: {c['done']} done, {c['failed']} failed, "
                    f"{c['skipped']} skipped ({status['status']})"
                )
            if status["counts"]["failed"]:
                raise typer.Exit(1)

    @ingest_app.command("runs")
    def runs(limit: Annotated[int, typer.Option(min=1)] = 20) -> None:
        """List recent ingest runs."""
        with _friendly():
            from ingest.runs import list_runs

            catalog = CatalogSettings()
            ensure_database(catalog)
            for r in list_runs(catalog.dsn, limit):
                c = r["counts"]
                out.print(
                    f"{r['id']:>5}  {r['status']:<8} {r['source']:<30} found {c['found']}"
                    f", done {c['done']}, failed {c['failed']}, skipped {c['skipped']}"
                )

    @ingest_app.command("run-status")
    def run_status_cmd(
        run_id: int, as_json: Annotated[bool, typer.Option("--json")] = False
    ) -> None:
        """Show one run: counts, and each product's status and error."""
        with _friendly():
            from ingest.runs import run_status

            catalog = CatalogSettings()
            ensure_database(catalog)
            status = run_status(catalog.dsn, run_id)
            if as_json:
                out.print_json(json.dumps(status))
                return
            c = status["counts"]
            out.print(
                f"run {status['id']} ({status['source']}): {status['status']} — found "
                f"{c['found']}, done {c['done']}, failed {c['failed']}, skipped "
                f"{c['skipped']}, pending {c['queued'] + c['running'] + c['retrying']}"
            )
            for p in status["products"]:
                line = f"  {p['status']:<8} {p['collection']}/{p['item_id']}"
                if p["error"]:
                    line += f" — {p['error']}"
                out.print(line, markup=False)

    def worker(concurrency: int = 1, debug: bool = False) -> None:
        _setup_logging(debug)
        with _friendly(debug):
            catalog = CatalogSettings()
            ensure_database(catalog)
            svc = _services(catalog, on_new_collection)
            err.print(
                f"ingest worker on queue {svc.settings.queue!r}, concurrency "
                f"{concurrency} (Ctrl-C to stop)"
            )
            from ingest.worker import run_worker

            asyncio.run(run_worker(svc, concurrency=concurrency))

    return ingest_app, worker


def _run_here(svc: Services, run_id: int, concurrency: int, bars: bool) -> None:
    """Run a worker in this process until the run ends, drawing progress from the records
    (the same numbers `GET /ingest/runs/{id}` shows, so other workers' work shows too)."""
    from ingest.worker import run_worker

    stop = threading.Event()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            asyncio.run(
                run_worker(
                    svc,
                    concurrency=concurrency,
                    until_run=run_id,
                    install_signal_handlers=False,
                    stop=stop,
                )
            )
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            failure.append(e)

    thread = threading.Thread(target=work, name="ingest-worker", daemon=True)
    thread.start()
    try:
        _show_progress(svc, run_id, thread, bars)
    except KeyboardInterrupt:
        err.print("stopping: finishing the products in progress (Ctrl-C again to abandon)")
        stop.set()
        thread.join()
        raise typer.Exit(130) from None
    thread.join()
    if failure:
        raise failure[0]


def _show_progress(svc: Services, run_id: int, thread: threading.Thread, bars: bool) -> None:
    from ingest.runs import run_status

    reported: set[int] = set()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not bars,
    ) as progress:
        overall = progress.add_task("[bold]products", total=None)
        shown: dict[int, Any] = {}
        while True:
            status = run_status(svc.dsn, run_id)
            c = status["counts"]
            progress.update(
                overall, total=c["found"], completed=c["done"] + c["failed"] + c["skipped"]
            )
            for p in status["products"]:
                label = f"  {p['item_id'][:40]} [{p['stage'] or p['status']}]"
                if p["status"] in ("running", "retrying") and p["id"] not in shown:
                    shown[p["id"]] = progress.add_task(label, total=p["assets_total"] or None)
                if p["id"] in shown:
                    progress.update(
                        shown[p["id"]],
                        description=label,
                        total=p["assets_total"] or None,
                        completed=p["assets_done"],
                    )
                if p["status"] in ("done", "failed", "skipped") and p["id"] not in reported:
                    reported.add(p["id"])
                    if p["id"] in shown:
                        progress.remove_task(shown.pop(p["id"]))
                    _report(progress.console, p)
            if not thread.is_alive():
                return
            time.sleep(0.3)


def _report(console: Console, p: dict[str, Any]) -> None:
    name = escape(f"{p['collection']}/{p['item_id']}")
    if p["status"] == "done":
        secs = (p["timings"] or {}).get("total_s")
        console.print(
            f"[green]done[/]    {name} ({p['assets_total']} assets, {secs} s)", highlight=False
        )
    elif p["status"] == "skipped":
        console.print(f"skipped {name}: already ingested", highlight=False)
    else:
        console.print(f"[red]failed[/]  {name}: {escape(str(p['error']))}", highlight=False)
