"""The algorithm registry: what a task runs (an image for Fargate, a command for here), its size,
and the parameters it accepts.

An algorithm is registered from a YAML or JSON file (``stacworks algorithm register FILE``) or
over HTTP. Versions are immutable: registering the same name and version again is refused unless
replacing is asked for, so an execution's provenance keeps meaning what it said.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from processing.costs import FARGATE_SIZES, fargate_memory_choices
from processing.db import Database
from processing.errors import AlgorithmNotFound, Conflict, InvalidInput

__all__ = [
    "AlgorithmSource",
    "AlgorithmSpec",
    "AlgorithmRegistry",
    "InMemoryAlgorithms",
    "algorithm_from_document",
    "load_algorithm_file",
    "local_argv",
    "pydantic_to_invalid",
    "read_document",
    "validate_parameters",
]

_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_VERSION = r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*$")


def _cpu_units(value: Any) -> int:
    """Accept CPU units (1024), vCPUs (0.25, 1, "1 vCPU") like the ECS console does."""
    if isinstance(value, str):
        match = _SIZE.match(value)
        if not match or match.group(2).lower() not in ("", "vcpu", "vcpus", "cpu"):
            raise ValueError(f"expected CPU units or vCPUs like '1 vCPU', got {value!r}")
        number = float(match.group(1))
        return int(round(number * 1024)) if match.group(2) or number <= 16 else int(number)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(round(value * 1024)) if value <= 16 else int(value)
    raise ValueError("expected a number")


def _memory_mib(value: Any) -> int:
    """Accept MiB (2048) or sizes with a unit ("2 GB", "512 MB")."""
    if isinstance(value, str):
        match = _SIZE.match(value)
        unit = match.group(2).lower() if match else None
        if not match or unit not in ("", "mb", "mib", "gb", "gib"):
            raise ValueError(f"expected MiB or a size like '2 GB', got {value!r}")
        number = float(match.group(1))
        return int(round(number * 1024)) if unit in ("gb", "gib") else int(number)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    raise ValueError("expected a number")


class AlgorithmSpec(BaseModel):
    """A registered algorithm (our schema; see ``docs/task-contract.md``).

    ``local_command`` may use ``{python}`` (the server's interpreter) and ``{here}`` (the
    folder of the file it was registered from, resolved at registration).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME, description="Lower-case id; the ECS task family.")
    version: str = Field(pattern=_VERSION)
    title: str | None = None
    description: str = ""
    image: str | None = Field(default=None, description="Container image (repository:tag).")
    image_digest: str | None = Field(default=None, description="sha256:... when known.")
    command: list[str] = Field(default_factory=list, description="The container's command.")
    cpu: int = Field(default=1024, description="Fargate CPU units (1024 = 1 vCPU).")
    memory: int = Field(default=2048, description="Fargate memory in MiB.")
    ephemeral_storage_gib: int | None = Field(
        default=None, ge=21, le=200,
        description="Fargate task disk (GiB) when it needs more than the default 21.",
    )
    local_command: list[str] | None = Field(
        default=None, description="argv to run the algorithm here, without a container."
    )
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object"}, description="JSON Schema of the parameters."
    )
    inputs: Literal["each", "all"] = Field(
        default="each",
        description="Run as a process: one task per input item ('each') or one for all.",
    )
    renders: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Render presets of output collections (STAC render)."
    )
    typical_duration_seconds: float = Field(default=60.0, gt=0)
    timeout_seconds: float | None = Field(default=None, gt=0)
    network: bool = Field(
        default=False,
        description="The Docker runner gives the task a network only when this is true.",
    )

    @field_validator("cpu", mode="before")
    @classmethod
    def _cpu(cls, value: Any) -> int:
        return _cpu_units(value)

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> int:
        return _memory_mib(value)

    @field_validator("image_digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None and not _DIGEST.match(value):
            raise ValueError("expected 'sha256:' and 64 hex digits")
        return value

    @field_validator("parameters")
    @classmethod
    def _schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        return value

    @model_validator(mode="after")
    def _check(self) -> AlgorithmSpec:
        if self.cpu not in FARGATE_SIZES:
            choices = ", ".join(str(c) for c in FARGATE_SIZES)
            raise ValueError(f"cpu: {self.cpu} units is no Fargate size (choose {choices})")
        allowed = fargate_memory_choices(self.cpu)
        if self.memory not in allowed:
            raise ValueError(
                f"memory: {self.memory} MiB is not valid with {self.cpu} CPU units on Fargate; "
                f"valid memory values (MiB): {', '.join(str(m) for m in allowed)}"
            )
        if not self.local_command and not self.image:
            raise ValueError("local_command: an algorithm needs a local command or an image")
        return self

    @property
    def software(self) -> str:
        """How provenance names this build: version, and image digest when known."""
        ref = self.image or "local"
        if self.image_digest:
            ref = f"{ref.split('@')[0]}@{self.image_digest}"
        return f"{self.version} ({ref})"


def pydantic_to_invalid(exc: ValidationError, prefix: str = "") -> InvalidInput:
    """The first validation problem as :class:`InvalidInput` naming its field."""
    err = exc.errors(include_input=False, include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"])
    field = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or "document")
    message = str(err["msg"]).removeprefix("Value error, ")
    if ": " in message and not loc:  # model validators name their field first
        head, _, rest = message.partition(": ")
        if re.fullmatch(r"[a-z_]+", head):
            field, message = (f"{prefix}.{head}" if prefix else head), rest
    return InvalidInput(field, message)


def read_document(path: Path) -> Any:
    """Parse a YAML or JSON file (JSON is YAML, but its errors read better from json)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput("file", f"cannot read {path}: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidInput("file", f"{path.name} is not valid JSON/YAML: {exc}") from None


def algorithm_from_document(doc: Any, *, here: Path | None = None) -> AlgorithmSpec:
    """Validate a registration document; ``{here}`` in the local command becomes ``here``."""
    if not isinstance(doc, Mapping):
        raise InvalidInput("document", "an algorithm is a JSON/YAML object")
    data = dict(doc)
    if here is not None and isinstance(data.get("local_command"), list):
        data["local_command"] = [
            str(part).replace("{here}", str(here)) for part in data["local_command"]
        ]
    try:
        return AlgorithmSpec.model_validate(data)
    except ValidationError as exc:
        raise pydantic_to_invalid(exc) from None


def load_algorithm_file(path: str | Path) -> AlgorithmSpec:
    """Read and validate an algorithm file (YAML or JSON)."""
    path = Path(path).absolute()
    return algorithm_from_document(read_document(path), here=path.parent)


def local_argv(spec: AlgorithmSpec) -> list[str]:
    """The argv to run ``spec`` here (``{python}`` is this interpreter)."""
    if not spec.local_command:
        raise InvalidInput(
            "local_command",
            f"algorithm {spec.name} {spec.version} has only an image: run it with "
            "STACWORKS_PROCESSING_RUNNER=docker, or register a local_command",
        )
    return [part.replace("{python}", sys.executable) for part in spec.local_command]


def validate_parameters(spec: AlgorithmSpec, parameters: Any, *, field: str = "parameters") -> None:
    """Check parameters against the algorithm's JSON Schema; the error names the field."""
    validator = Draft202012Validator(spec.parameters)
    errors = sorted(validator.iter_errors(parameters), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = ".".join([field, *(str(p) for p in first.absolute_path)])
        raise InvalidInput(where, first.message)


class AlgorithmSource(Protocol):
    """Where a task runner looks algorithms up (the registry, or files for a local run)."""

    def get(self, name: str, version: str | None = None) -> AlgorithmSpec: ...


class InMemoryAlgorithms:
    """Algorithms given directly (``stacworks workflow run --algorithm FILE``, tests)."""

    def __init__(self, specs: Iterable[AlgorithmSpec] = ()) -> None:
        self._specs: dict[tuple[str, str], AlgorithmSpec] = {}
        for spec in specs:
            self._specs[(spec.name, spec.version)] = spec

    def get(self, name: str, version: str | None = None) -> AlgorithmSpec:
        matches = [s for (n, v), s in self._specs.items() if n == name and version in (None, v)]
        if not matches:
            raise AlgorithmNotFound(f"algorithm {name!r} is not registered")
        return matches[-1]


class AlgorithmRegistry:
    """Algorithms in the catalog database; the latest registered version is the default."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def register(self, spec: AlgorithmSpec, *, replace: bool = False) -> AlgorithmSpec:
        """Store ``spec``; an existing name+version is a :class:`Conflict` unless ``replace``."""
        doc = json.dumps(spec.model_dump(mode="json"))
        with self.db.connection() as conn:
            if replace:
                conn.execute(
                    "INSERT INTO stacworks.processing_algorithms (name, version, spec) "
                    "VALUES (%s, %s, %s) ON CONFLICT (name, version) DO UPDATE "
                    "SET spec = EXCLUDED.spec, created_at = now()",
                    (spec.name, spec.version, doc),
                )
            else:
                row = conn.execute(
                    "INSERT INTO stacworks.processing_algorithms (name, version, spec) "
                    "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING name",
                    (spec.name, spec.version, doc),
                ).fetchone()
                if row is None:
                    raise Conflict(
                        f"algorithm {spec.name} {spec.version} is already registered; "
                        "register a new version (or replace it)"
                    )
        return spec

    def get(self, name: str, version: str | None = None) -> AlgorithmSpec:
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT spec FROM stacworks.processing_algorithms WHERE name = %s "
                "AND (%s::text IS NULL OR version = %s) ORDER BY created_at DESC LIMIT 1",
                (name, version, version),
            ).fetchone()
        if row is None:
            what = f"{name!r} version {version!r}" if version else repr(name)
            raise AlgorithmNotFound(f"algorithm {what} is not registered")
        return AlgorithmSpec.model_validate(row["spec"])

    def latest(self) -> list[AlgorithmSpec]:
        """The latest version of every algorithm, by name."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT DISTINCT ON (name) spec FROM stacworks.processing_algorithms "
                "ORDER BY name, created_at DESC"
            ).fetchall()
        return [AlgorithmSpec.model_validate(r["spec"]) for r in rows]

    def versions(self, name: str) -> list[AlgorithmSpec]:
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT spec FROM stacworks.processing_algorithms WHERE name = %s "
                "ORDER BY created_at",
                (name,),
            ).fetchall()
        if not rows:
            raise AlgorithmNotFound(f"algorithm {name!r} is not registered")
        return [AlgorithmSpec.model_validate(r["spec"]) for r in rows]

    def delete(self, name: str, version: str | None = None) -> int:
        with self.db.connection() as conn:
            cur = conn.execute(
                "DELETE FROM stacworks.processing_algorithms WHERE name = %s "
                "AND (%s::text IS NULL OR version = %s)",
                (name, version, version),
            )
        if not cur.rowcount:
            raise AlgorithmNotFound(f"algorithm {name!r} is not registered")
        return cur.rowcount
