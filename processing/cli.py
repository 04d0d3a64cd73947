"""`stacworks algorithm ...` and `stacworks workflow ...`: the registry and workflows from a shell.

Commands talk to the catalog database directly (like `stacworks load`), except `workflow
validate` and `workflow run` with `--algorithm` files, which need nothing running at all.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer

from catalog.errors import CatalogError
from processing.errors import ProcessingError

__all__ = [
    "AlgorithmCommands",
    "AlgorithmImageCommands",
    "CommandGroup",
    "WorkflowFileCommands",
    "WorkflowRegistryCommands",
    "build_cli",
]

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


@dataclass
class CommandGroup:
    """A few related commands registered on ``app`` when the group is created.

    ``ensure_database`` (the composition root's: it starts our private cluster when needed) is
    the one seam; commands open the catalog database through :meth:`database` only when run.
    """

    app: typer.Typer
    ensure_database: EnsureDatabase

    def __post_init__(self) -> None:
        self.register()

    def register(self) -> None:
        raise NotImplementedError

    def database(self) -> Any:
        from catalog.settings import CatalogSettings
        from processing.db import Database

        settings = CatalogSettings()
        self.ensure_database(settings)
        return Database(settings.dsn, max_size=2)


class AlgorithmCommands(CommandGroup):
    """`stacworks algorithm register|list|show|remove`: the algorithm registry."""

    def registry(self) -> Any:
        from processing.algorithms import AlgorithmRegistry
        from processing.settings import ProcessingSettings

        if ProcessingSettings().backend == "aws":  # versions become ECS task definitions
            from processing.aws.backend import manager_from_environment

            return manager_from_environment(self.database()).algorithms
        return AlgorithmRegistry(self.database())

    def register(self) -> None:
        registry = self.registry

        @self.app.command("register")
        @_friendly
        def algorithm_register(
            files: Annotated[list[Path], typer.Argument(help="Algorithm files (YAML or JSON).")],
            replace: Annotated[bool, typer.Option(help="Replace an existing version.")] = False,
            image: Annotated[str | None, typer.Option(
                help="Run this image (name:tag[@sha256:digest]) instead of the file's; "
                "the digest is recorded in the outputs' provenance.")] = None,
        ) -> None:
            """Register algorithms (validated first: sizes, command or image, parameters)."""
            from processing.algorithms import load_algorithm_file
            from processing.containers import with_image

            specs = [load_algorithm_file(f) for f in files]
            if image is not None:
                specs = [with_image(spec, image) for spec in specs]
            algorithms = registry()
            for spec in specs:
                algorithms.register(spec, replace=replace)
                typer.echo(f"registered {spec.name} {spec.version} "
                           f"({spec.cpu} CPU units, {spec.memory} MiB)")

        @self.app.command("list")
        @_friendly
        def algorithm_list() -> None:
            """The latest version of each registered algorithm."""
            for spec in registry().latest():
                typer.echo(f"{spec.name}\t{spec.version}\t{spec.cpu}/{spec.memory}\t"
                           f"{spec.title or spec.description[:60]}")

        @self.app.command("show")
        @_friendly
        def algorithm_show(name: str,
                           version: Annotated[str | None, typer.Option()] = None) -> None:
            """One algorithm's registration as JSON."""
            _echo_json(registry().get(name, version).model_dump(mode="json"))

        @self.app.command("remove")
        @_friendly
        def algorithm_remove(name: str,
                             version: Annotated[str | None, typer.Option()] = None) -> None:
            """Remove an algorithm (one version, or all)."""
            n = registry().delete(name, version)
            typer.echo(f"removed {n} version(s) of {name}")


class AlgorithmImageCommands(CommandGroup):
    """`stacworks algorithm init|build`: algorithm repositories and their images."""

    def register(self) -> None:
        @self.app.command("init")
        @_friendly
        def algorithm_init(
            name: Annotated[str, typer.Argument(help="The algorithm's name (lower case).")],
            language: Annotated[str, typer.Option(
                help="python, r or shell: the task contract helper and example.")] = "python",
            dir: Annotated[Path | None, typer.Option(  # noqa: A002
                "--dir", help="Where to write it (default ./NAME; must be empty).")] = None,
        ) -> None:
            """A new algorithm repository: Dockerfile, contract helper, example, tests, CI."""
            from processing.scaffold import init_algorithm

            target = init_algorithm(name, language, dir)
            typer.echo(f"created {target} ({language}); next: cd {target} and read README.md")

        @self.app.command("build")
        @_friendly
        def algorithm_build(
            directory: Annotated[Path, typer.Argument(help="The algorithm repository.")] = Path(),
            tag: Annotated[str | None, typer.Option(
                help="Image tag (default: algorithm.yaml's image).")] = None,
            build_arg: Annotated[list[str] | None, typer.Option(
                "--build-arg", help="KEY=VALUE passed to docker build (e.g. BASE_IMAGE).")] = None,
        ) -> None:
            """Build the algorithm's image locally (docker build); print its tag and id."""
            from processing.containers import build_image

            args: dict[str, str] = {}
            for pair in build_arg or []:
                key, sep, value = pair.partition("=")
                if not sep or not key:
                    raise _fail(f"--build-arg: expected KEY=VALUE, got {pair!r}")
                args[key] = value
            built = build_image(directory, tag=tag, build_args=args)
            typer.echo(f"built {built.tag} {built.image_id}")


class WorkflowFileCommands(CommandGroup):
    """`stacworks workflow validate|run`: a document on disk, checked or run right here."""

    def register(self) -> None:
        group = self

        @self.app.command("validate")
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

        @self.app.command("run")
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
            group.run(file, _read_json_arg(input, "--input"), algorithm, work_dir)

    def task_runners(self, doc: Any, workflow_id: str, execution_id: str,
                     algorithm: list[Path] | None, stage: Path) -> dict[str, Any]:
        """The ECS resources' runner: algorithms from files (no database) or the registry, with
        outputs published to the catalog."""
        from processing.algorithm_tasks import ExecutionContext
        from processing.algorithms import InMemoryAlgorithms, load_algorithm_file
        from processing.containers import task_runner_class
        from processing.settings import ProcessingSettings
        from processing.workflows import ECS_RESOURCES, workflow_from_document

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
            self.ensure_database(cat)
            spec = workflow_from_document(doc, workflow_id=_safe_id(workflow_id))
            collection = spec.collection
            context_args["renders"] = spec.renders
            source = AlgorithmRegistry(self.database())
            catalog = CatalogItems(cat.dsn)
            publisher = OutputPublisher(store_from_settings(load_settings(home=cat.home)),
                                        cat.dsn)
        context = ExecutionContext(execution_id=execution_id, workflow_id=workflow_id,
                                   workflow_version=None, output_collection=collection,
                                   work_dir=stage, **context_args)
        settings = ProcessingSettings()
        runner = task_runner_class(settings)(source, context, settings, catalog=catalog,
                                             publisher=publisher)
        return {resource: runner for resource in ECS_RESOURCES}

    def run(self, file: Path, data: Any, algorithm: list[Path] | None,
            work_dir: Path | None) -> None:
        from processing.algorithms import read_document
        from processing.asl import InvalidDefinition, StateMachine
        from processing.settings import ProcessingSettings
        from processing.workflows import ECS_RESOURCES, task_states

        doc = read_document(file)
        definition = doc.get("definition", doc) if isinstance(doc, dict) else doc
        has_tasks = any(s.get("Resource") in ECS_RESOURCES for _, s, _ in task_states(definition))
        workflow_id = (doc.get("id") if isinstance(doc, dict) else None) or file.stem.lower()
        execution_id = uuid.uuid4().hex
        stage = work_dir or Path(tempfile.mkdtemp(prefix="stacworks-run-"))
        runners = (self.task_runners(doc, workflow_id, execution_id, algorithm, stage)
                   if has_tasks else {})
        try:
            machine = StateMachine(definition, runners=runners,
                                   default_task_timeout=ProcessingSettings().default_task_timeout,
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


class WorkflowRegistryCommands(CommandGroup):
    """`stacworks workflow create|import|update|list|get|duplicate|delete|export|estimate`."""

    def workflows(self) -> Any:
        from processing.settings import ProcessingSettings
        from processing.workflows import WorkflowStore

        if ProcessingSettings().backend == "aws":  # versions become state machines
            from processing.aws.backend import manager_from_environment

            return manager_from_environment(self.database()).workflows
        return WorkflowStore(self.database())

    def register(self) -> None:
        self.register_changes()
        self.register_reads()

    def register_changes(self) -> None:
        workflows = self.workflows

        def show(spec: Any) -> None:
            typer.echo(f"{spec.id} version {spec.version}", err=True)

        def from_file(file: Path, workflow_id: str | None) -> Any:
            from processing.algorithms import read_document
            from processing.workflows import workflow_from_document

            return workflow_from_document(read_document(file), workflow_id=workflow_id)

        @self.app.command("create")
        @_friendly
        def workflow_create(
            file: Path, id: Annotated[str | None, typer.Option("--id")] = None,  # noqa: A002
        ) -> None:
            """Create a workflow from a workflow file or a plain ASL document (with --id)."""
            show(workflows().create(from_file(file, id)))

        @self.app.command("import")
        @_friendly
        def workflow_import(file: Path, id: Annotated[str, typer.Option("--id")]) -> None:  # noqa: A002
            """Import a plain ASL JSON document as a new workflow."""
            show(workflows().create(from_file(file, id)))

        @self.app.command("update")
        @_friendly
        def workflow_update(workflow_id: str, file: Path) -> None:
            """Store a new version of a workflow."""
            show(workflows().update(workflow_id, from_file(file, workflow_id)))

        @self.app.command("duplicate")
        @_friendly
        def workflow_duplicate(workflow_id: str, new_id: str) -> None:
            """Copy a workflow under a new id (version 1)."""
            show(workflows().duplicate(workflow_id, new_id))

        @self.app.command("delete")
        @_friendly
        def workflow_delete(workflow_id: str) -> None:
            """Delete a workflow (its versions stay for the provenance of past runs)."""
            workflows().delete(workflow_id)
            typer.echo(f"deleted {workflow_id}")

    def register_reads(self) -> None:
        workflows, database = self.workflows, self.database

        @self.app.command("list")
        @_friendly
        def workflow_list() -> None:
            """Every workflow with its latest version."""
            for spec in workflows().latest():
                typer.echo(f"{spec.id}\t{spec.version}\t{spec.title or ''}")

        @self.app.command("get")
        @_friendly
        def workflow_get(workflow_id: str,
                         version: Annotated[int | None, typer.Option()] = None) -> None:
            """A workflow (latest or a given version) as JSON."""
            _echo_json(workflows().get(workflow_id, version).model_dump(mode="json"))

        @self.app.command("export")
        @_friendly
        def workflow_export(
            workflow_id: str,
            version: Annotated[int | None, typer.Option()] = None,
            output: Annotated[Path | None, typer.Option("-o", "--output")] = None,
            target: Annotated[str, typer.Option(
                help="local: the document as stored; aws: as deployed to Step Functions "
                "(each ECS task completed for Fargate, processing/aws/asl.py)")] = "local",
            deploy: Annotated[bool, typer.Option(
                help="With --target aws: also create/update the state machine.")] = False,
        ) -> None:
            """The workflow's ASL JSON: as stored, or exactly what Step Functions runs."""
            if target not in ("local", "aws"):
                raise _fail("--target: expected local or aws")
            definition = workflows().get(workflow_id, version).definition
            if target == "aws":
                from processing.aws.backend import manager_from_environment

                aws = manager_from_environment(self.database())
                if deploy:
                    arn = aws.deploy(workflow_id, definition)
                    typer.echo(f"deployed {arn}", err=True)
                definition = aws.export(definition)
            text = json.dumps(definition, indent=2)
            if output:
                output.write_text(text + "\n", encoding="utf-8")
            else:
                typer.echo(text)

        @self.app.command("estimate")
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
            manager = ExecutionManager(db=database(), settings=ProcessingSettings(), dsn=cat.dsn,
                                       home=cat.home,
                                       object_store=LocalStore(cat.home / "objects"))
            _echo_json(manager.estimate(process_id, items))


def build_cli(ensure_database: EnsureDatabase) -> tuple[typer.Typer, typer.Typer]:
    """The `algorithm` and `workflow` command groups; ``ensure_database`` starts our cluster."""
    algorithm_app = typer.Typer(help="Register and inspect algorithms.", no_args_is_help=True)
    workflow_app = typer.Typer(help="Validate, run and manage ASL workflows.",
                               no_args_is_help=True)
    AlgorithmCommands(algorithm_app, ensure_database)
    AlgorithmImageCommands(algorithm_app, ensure_database)
    WorkflowFileCommands(workflow_app, ensure_database)
    WorkflowRegistryCommands(workflow_app, ensure_database)
    return algorithm_app, workflow_app


def _safe_id(value: str) -> str:
    import re

    return re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-_")[:63] or "workflow"
