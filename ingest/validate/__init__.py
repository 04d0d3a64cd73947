"""Validators for cloud-optimised outputs; each returns a ValidationResult and never raises."""

from ingest.validate.cog import validate_cog
from ingest.validate.copc import validate_copc
from ingest.validate.result import ValidationResult

__all__ = ["ValidationResult", "validate_cog", "validate_copc"]
