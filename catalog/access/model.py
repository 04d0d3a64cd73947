"""Principals, roles and the token formats (the secrets are never stored, only their hash)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

Role = Literal["admin", "editor", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "editor", "viewer")
KEY_PREFIX = "swk"
SHARE_PREFIX = "sws"


@dataclass(frozen=True)
class ShareScope:
    """What a share-link token opens: one collection, or one registered search (tiles)."""

    id: str
    kind: Literal["collection", "search"]
    target: str
    creator: Principal


@dataclass(frozen=True)
class Principal:
    """Who is asking. ``id`` is None for anonymous callers and share-link holders."""

    id: str | None
    role: Role | None
    share: ShareScope | None = None
    unrestricted: bool = False  # access control disabled: every request may do everything

    @property
    def anonymous(self) -> bool:
        return self.id is None and not self.unrestricted

    @property
    def admin(self) -> bool:
        return self.unrestricted or self.role == "admin"

    @property
    def label(self) -> str:
        """For rate limits and logs: never the secret."""
        if self.share is not None:
            return f"share:{self.share.id}"
        return self.id or "anonymous"


ANONYMOUS = Principal(id=None, role=None)
OPEN = Principal(id="open", role="admin", unrestricted=True)


def new_token(prefix: str) -> tuple[str, str, str]:
    """A fresh ``prefix_id_secret`` token: (token id, full token, its sha256 hex)."""
    token_id = secrets.token_hex(4)
    token = f"{prefix}_{token_id}_{secrets.token_urlsafe(32)}"
    return token_id, token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """(prefix, id) of a well-formed token, None otherwise."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] not in (KEY_PREFIX, SHARE_PREFIX):
        return None
    if len(parts[1]) != 8 or not all(c in "0123456789abcdef" for c in parts[1]) or not parts[2]:
        return None
    return parts[0], parts[1]


def hash_matches(token: str, stored: str) -> bool:
    return hmac.compare_digest(token_hash(token), stored)
