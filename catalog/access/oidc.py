"""Principals from OIDC access tokens: JWTs checked against the provider's JWKS, iss and aud."""

from __future__ import annotations

from typing import Any

import jwt

from .model import ROLES, Principal
from .records import InvalidCredentials
from .settings import AccessSettings

__all__ = ["OidcVerifier", "looks_like_jwt"]


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("ey")


class OidcVerifier:
    """Validates a JWT's signature (JWKS, cached), expiry, issuer and audience."""

    def __init__(self, settings: AccessSettings) -> None:
        assert settings.oidc_jwks_url is not None
        self.settings = settings
        self.jwks = jwt.PyJWKClient(settings.oidc_jwks_url, cache_keys=True, lifespan=300,
                                    timeout=5)
        self.algorithms = [a.strip() for a in settings.oidc_algorithms.split(",") if a.strip()]

    def principal(self, token: str) -> Principal:
        try:
            key = self.jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=self.algorithms,
                audience=self.settings.oidc_audience, issuer=self.settings.oidc_issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, jwt.PyJWKClientError, ValueError) as exc:
            raise InvalidCredentials(f"invalid token: {type(exc).__name__}") from None
        role = claims.get(self.settings.oidc_role_claim, self.settings.oidc_default_role)
        if role not in ROLES:
            role = self.settings.oidc_default_role
        return Principal(id=f"oidc:{claims['sub']}", role=role)
