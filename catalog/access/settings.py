"""Access-control settings (env prefix ``STACWORKS_AUTH_``), checked once at start-up."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AccessSettings(BaseSettings):
    """Who may read and write what. Safe by default: enabled, collections private.

    ``enabled=False`` turns every request into an unrestricted one (a single-user laptop, the
    legacy test suites); it is never the default.
    """

    model_config = SettingsConfigDict(env_prefix="STACWORKS_AUTH_", extra="ignore")

    enabled: bool = Field(default=True, description="Enforce API keys, visibility and grants.")
    oidc_issuer: str | None = Field(default=None, description="Expected `iss` of OIDC JWTs.")
    oidc_audience: str | None = Field(default=None, description="Expected `aud` of OIDC JWTs.")
    oidc_jwks_url: str | None = Field(default=None, description="JWKS of the identity provider.")
    oidc_role_claim: str = Field(default="stacworks_role", description="Claim naming the role.")
    oidc_default_role: str = Field(default="viewer", description="Role when the claim is absent.")
    oidc_algorithms: str = Field(default="RS256,ES256", description="Accepted JWT algorithms.")
    rate_limits: bool = Field(default=True, description="Rate-limit expensive endpoints.")
    rate_store: Literal["memory", "postgres"] = Field(
        default="memory",
        description="Where rate-limit counters live: this process (one server), or the catalog "
        "database (one budget per caller across every process and host of a deployment).",
    )
    rate_window_s: float = Field(default=60.0, gt=0, description="Rate-limit window (seconds).")
    rate_register: int = Field(default=120, ge=1, description="Search registrations per window.")
    rate_mosaic: int = Field(default=3000, ge=1, description="Mosaic tile requests per window.")
    rate_jobs: int = Field(default=60, ge=1, description="Job starts per window.")
    fail_limit: int = Field(
        default=20, ge=1,
        description="Failed authentications per client address and window before 429s.")
    fail_window_s: float = Field(default=60.0, gt=0, description="Failed-authentication window.")
    trusted_proxies: str = Field(
        default="127.0.0.1",
        description="Addresses whose X-Forwarded-For/-Proto are believed (comma-separated, or "
        "*): anonymous rate limits key on the client address, which anyone else could forge.",
    )
    share_max_days: int = Field(default=90, ge=1, description="Longest share-link lifetime.")

    @model_validator(mode="after")
    def _oidc_complete(self) -> AccessSettings:
        given = [self.oidc_issuer, self.oidc_audience, self.oidc_jwks_url]
        if any(given) and not all(given):
            raise ValueError("OIDC needs STACWORKS_AUTH_OIDC_ISSUER, _AUDIENCE and _JWKS_URL")
        if self.oidc_default_role not in ("admin", "editor", "viewer"):
            raise ValueError("oidc_default_role must be admin, editor or viewer")
        return self

    @property
    def oidc(self) -> bool:
        return bool(self.oidc_jwks_url)
