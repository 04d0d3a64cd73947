"""`stacworks algorithm ...` and `stacworks workflow ...`: the registry and workflows from a shell.

Commands talk to the catalog database directly (like `stacworks load`), except `workflow
validate` and `workflow run` with `--algorithm` files, which need nothing running at all.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer

from catalog.errors import CatalogError
from processing.errors import ProcessingError

__all__ = ["build_cli"]

EnsureDatabase = Callable[[Any], None]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Our errors as one line on stderr and exit 1, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ProcessingError, CatalogError) as exc:
            raise _fail(str(exc)) from None

    return wrapper


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def _read_json_arg(value: str, name: str) -> Any:
    """A JSON value given inline or as ``@file``."""
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise _fail(f"{name}: cannot read {value[1:]}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _fail(f"{name}: not valid JSON ({exc})") from None


def build_cli(ensure_database: EnsureDatabase) -> tuple[typer.Typer, typer.Typer]:
    """The `algorithm` and `workflow` command groups; ``ensure_database`` starts our cluster."""
    algorithm_app = typer.Typer(help="Register and inspect algorithms.", no_args_is_help=True)
    workflow_app = typer.Typer(help="Validate, run and manage ASL workflows.",
                               no_args_is_help=True)

    def database() -> Any:
        from catalog.settings import CatalogSettings
        from processing.db import Database

        settings = CatalogSettings()
        ensure_database(settings)
        return Database(settings.dsn, max_size=2)

    # -- algorithms ----------------------------------------------------------------------------

    @algorithm_app.command("register")
    @_friendly
    def algorithm_register(
        files: Annotated[list[Path], typer.Argument(help="Algorithm files (YAML or JSON).")],
        replace: Annotated[bool, typer.Option(help="Replace an existing version.")] = False,
    ) -> None:
        """Register algorithms (validated first: sizes, command, parameter schema)."""
        from processing.algorithms import AlgorithmRegistry, load_algorithm_file

        specs = [load_algorithm_file(f) for f in files]
        registry = AlgorithmRegistry(database())
        for spec in specs:
            registry.register(spec, replace=replace)
            typer.echo(f"registered {spec.name} {spec.version} "
                       f"({spec.cpu} CPU units, {spec.memory} MiB)")

    @algorithm_app.command("list")
    @_friendly
    def algorithm_list() -> None:
        """The latest version of each registered algorithm."""
        from processing.algorithms import AlgorithmRegistry

        for spec in AlgorithmRegistry(database()).latest():
            typer.echo(f"{spec.name}\t{spec.version}\t{spec.cpu}/{spec.memory}\t"
                       f"{spec.title or spec.description[:60]}")

    @algorithm_app.command("show")
    @_friendly
    def algorithm_show(name: str, version: Annotated[str | None, typer.Option()] = None) -> None:
        """One algorithm's registration as JSON."""
        from processing.algorithms import AlgorithmRegistry

        _echo_json(AlgorithmRegistry(database()).get(name, version).model_dump(mode="json"))

    @algorithm_app.command("remove")
    @_friendly
    def algorithm_remove(name: str, version: Annotated[str | None, typer.Option()] = None) -> None:
        """Remove an algorithm (one version, or all)."""
        from processing.algorithms import AlgorithmRegistry

        n = AlgorithmRegistry(database()).delete(name, version)
        typer.echo(f"removed {n} version(s) of {name}")

    # -- workflows: local ----------------------------------------------------------------------

    @workflow_app.command("validate")
    @_friendly
    def workflow_validate(
        file: Annotated[Path, typer.Argument(help="An ASL document or a workflow file.")],
    ) -> None:
        """Print every validation error (state and field); exit 1 when there is any."""
        from processing.algorithms import read_document
        from processing.asl import validate

        doc = read_document(file)
        definition = doc.get("definition", doc) if isinstance(doc, dict) else doc
        result = validate(definition)
        for issue in result.errors:
            typer.echo(f"error: {issue}", err=True)
        for issue in result.warnings:
            typer.echo(f"warning: {issue}", err=True)
        if not result.valid:
            raise typer.Exit(1)
        typer.echo(f"{file}: valid")

    @workflow_app.command("run")
    @_friendly
    def workflow_run(
        file: Annotated[Path, typer.Argument(help="An ASL document or a workflow file.")],
        input: Annotated[str, typer.Option("--input", help="Input JSON (or @file).")] = "{}",  # noqa: A002
        algorithm: Annotated[list[Path] | None, typer.Option(
            "--algorithm", help="Algorithm files to use instead of the registry (no database).",
        )] = None,
        work_dir: Annotated[Path | None, typer.Option(help="Where tasks stage files.")] = None,
    ) -> None:
        """Run a document on the local executor; print its output JSON (exit 1 on failure)."""
        from processing.algorithms import InMemoryAlgorithms, load_algorithm_file, read_document
        from processing.asl import InvalidDefinition, StateMachine
        from processing.runner import AlgorithmTaskRunner, ExecutionContext
        from processing.settings import ProcessingSettings
        from processing.workflows import ECS_RESOURCES, task_states, workflow_from_document

        doc = read_document(file)
        data = _read_json_arg(input, "--input")
        definition = doc.get("definition", doc) if isinstance(doc, dict) else doc
        has_tasks = any(s.get("Resource") in ECS_RESOURCES for _, s, _ in task_states(definition))
        workflow_id = (doc.get("id") if isinstance(doc, dict) else None) or file.stem.lower()
        settings = ProcessingSettings()
        execution_id = uuid.uuid4().hex
        stage = work_dir or Path(tempfile.mkdtemp(prefix="stacworks-run-"))
        runners: dict[str, Any] = {}
        if has_tasks:
            context_args: dict[str, Any] = {}
            if algorithm:
                source: Any = InMemoryAlgorithms(load_algorithm_file(f) for f in algorithm)
                catalog, publisher, collection = None, None, workflow_id
            else:
                from catalog.settings import CatalogSettings
                from objectstore import store_from_settings
                from objectstore.settings import load_settings
                from processing.algorithms import AlgorithmRegistry
                from processing.contract import CatalogItems
                from processing.outputs import OutputPublisher

                cat = CatalogSettings()
                ensure_database(cat)
                spec = workflow_from_document(doc, workflow_id=_safe_id(workflow_id))
                collection = spec.collection
                context_args["renders"] = spec.renders
                source = AlgorithmRegistry(database())
                catalog = CatalogItems(cat.dsn)
                publisher = OutputPublisher(store_from_settings(load_settings(home=cat.home)),
                                            cat.dsn)
            context = ExecutionContext(execution_id=execution_id, workflow_id=workflow_id,
                                       workflow_version=None, output_collection=collection,
                                       work_dir=stage, **context_args)
            runner = AlgorithmTaskRunner(source, context, settings, catalog=catalog,
                                         publisher=publisher)
            runners = {resource: runner for resource in ECS_RESOURCES}
        try:
            machine = StateMachine(definition, runners=runners,
                                   default_task_timeout=settings.default_task_timeout,
                                   name=workflow_id)
        except InvalidDefinition as exc:
            for issue in exc.result.errors:
                typer.echo(f"error: {issue}", err=True)
            raise typer.Exit(1) from None
        result = machine.execute(data, name=execution_id)
        if result.status != "SUCCEEDED":
            typer.echo(f"execution {result.status.lower()}: {result.error or ''}"
                       f"{': ' if result.error and result.cause else ''}{result.cause or ''}",
                       err=True)
            raise typer.Exit(1)
        typer.echo(json.dumps(result.output, indent=2))

    # -- workflows: the registry ---------------------------------------------------------------

    def workflows() -> Any:
        from processing.workflows import WorkflowStore

        return WorkflowStore(database())

    def show(spec: Any) -> None:
        typer.echo(f"{spec.id} version {spec.version}", err=True)

    @workflow_app.command("create")
    @_friendly
    def workflow_create(
        file: Path, id: Annotated[str | None, typer.Option("--id")] = None,  # noqa: A002
    ) -> None:
        """Create a workflow from a workflow file or a plain ASL document (with --id)."""
        from processing.algorithms import read_document
        from processing.workflows import workflow_from_document

        show(workflows().create(workflow_from_document(read_document(file), workflow_id=id)))

    @workflow_app.command("import")
    @_friendly
    def workflow_import(file: Path, id: Annotated[str, typer.Option("--id")]) -> None:  # noqa: A002
        """Import a plain ASL JSON document as a new workflow."""
        from processing.algorithms import read_document
        from processing.workflows import workflow_from_document

        show(workflows().create(workflow_from_document(read_document(file), workflow_id=id)))

    @workflow_app.command("update")
    @_friendly
    def workflow_update(workflow_id: str, file: Path) -> None:
        """Store a new version of a workflow."""
        from processing.algorithms import read_document
        from processing.workflows import workflow_from_document

        spec = workflow_from_document(read_document(file), workflow_id=workflow_id)
        show(workflows().update(workflow_id, spec))

    @workflow_app.command("list")
    @_friendly
    def workflow_list() -> None:
        """Every workflow with its latest version."""
        for spec in workflows().latest():
            typer.echo(f"{spec.id}\t{spec.version}\t{spec.title or ''}")

    @workflow_app.command("get")
    @_friendly
    def workflow_get(workflow_id: str,
                     version: Annotated[int | None, typer.Option()] = None) -> None:
        """A workflow (latest or a given version) as JSON."""
        _echo_json(workflows().get(workflow_id, version).model_dump(mode="json"))

    @workflow_app.command("duplicate")
    @_friendly
    def workflow_duplicate(workflow_id: str, new_id: str) -> None:
        """Copy a workflow under a new id (version 1)."""
        show(workflows().duplicate(workflow_id, new_id))

    @workflow_app.command("delete")
    @_friendly
    def workflow_delete(workflow_id: str) -> None:
        """Delete a workflow (its versions stay for the provenance of past runs)."""
        workflows().delete(workflow_id)
        typer.echo(f"deleted {workflow_id}")

    @workflow_app.command("export")
    @_friendly
    def workflow_export(
        workflow_id: str,
        version: Annotated[int | None, typer.Option()] = None,
        output: Annotated[Path | None, typer.Option("-o", "--output")] = None,
    ) -> None:
        """The plain ASL JSON (deployable to Step Functions unchanged)."""
        text = json.dumps(workflows().get(workflow_id, version).definition, indent=2)
        if output:
            output.write_text(text + "\n", encoding="utf-8")
        else:
            typer.echo(text)

    @workflow_app.command("estimate")
    @_friendly
    def workflow_estimate(
        process_id: Annotated[str, typer.Argument(help="Workflow id or algorithm:NAME.")],
        items: Annotated[int, typer.Option(min=0, help="Number of input items.")] = 1,
    ) -> None:
        """Estimate task runs and Fargate cost before a run."""
        from catalog.settings import CatalogSettings
        from objectstore import LocalStore
        from processing.executions import ExecutionManager
        from processing.settings import ProcessingSettings

        cat = CatalogSettings()
        db = database()
        manager = ExecutionManager(db=db, settings=ProcessingSettings(), dsn=cat.dsn,
                                   home=cat.home, object_store=LocalStore(cat.home / "objects"))
        _echo_json(manager.estimate(process_id, items))

    return algorithm_app, workflow_app


def _safe_id(value: str) -> str:
    import re

    return re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-_")[:63] or "workflow"
