"""Our access tables (schema ``stacworks``): keys, visibility, grants, shares, and the rules.

Every decision is made here, from the database, for one principal:
``readable`` (which collections it may read; None = all) and ``writable`` (one collection).
The services only ask; none of them holds a rule of its own. (Called records, not a store:
"store" means only the object store, ``objectstore/``.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from catalog.errors import CatalogError, InvalidInput, NotFound
from catalog.limits import pool_wait_s

from .model import (
    KEY_PREFIX,
    ROLES,
    SHARE_PREFIX,
    Principal,
    Role,
    ShareScope,
    hash_matches,
    new_token,
    split_token,
)

__all__ = ["AccessRecords", "InvalidCredentials"]

_VISIBILITY = ("private", "public")
_PERMISSIONS = ("read", "write")


class InvalidCredentials(CatalogError):
    """A key or token that is malformed, unknown, tampered with, expired or revoked (401)."""


_POOLS: dict[str, ConnectionPool] = {}
_POOLS_LOCK = threading.Lock()


def _pool(dsn: str) -> ConnectionPool:
    with _POOLS_LOCK:
        pool = _POOLS.get(dsn)
        if pool is None:
            pool = ConnectionPool(dsn, min_size=0, max_size=4, open=True, timeout=pool_wait_s(),
                                  kwargs={"autocommit": True, "row_factory": dict_row})
            _POOLS[dsn] = pool
        return pool


class AccessRecords:
    """Reads and writes the access tables; ``pooled`` for servers, one connection for the CLI."""

    def __init__(self, dsn: str, *, pooled: bool = True) -> None:
        self.dsn = dsn
        self.pooled = pooled

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        if self.pooled:
            with _pool(self.dsn).connection() as conn:
                yield conn
        else:
            with psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row) as conn:
                yield conn

    # -- keys ----------------------------------------------------------------------------------

    def create_key(self, name: str, role: str, *, expires_at: datetime | None = None,
                   created_by: str | None = None) -> dict[str, Any]:
        """A new API key; the returned ``token`` is shown once and never stored."""
        if role not in ROLES:
            raise InvalidInput("role", f"expected one of {list(ROLES)}")
        if not name.strip():
            raise InvalidInput("name", "a key needs a name")
        key_id, token, digest = new_token(KEY_PREFIX)
        with self.connection() as conn:
            row = conn.execute(
                "INSERT INTO stacworks.access_keys (id, name, role, hash, created_by, expires_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id, name, role, created_at, expires_at",
                (key_id, name, role, digest, created_by, expires_at),
            ).fetchone()
        assert row is not None
        return {**_key_doc(row), "token": token}

    def list_keys(self) -> list[dict[str, Any]]:
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT id, name, role, created_at, expires_at, revoked_at "
                "FROM stacworks.access_keys ORDER BY created_at, id"
            ).fetchall()
        return [_key_doc(r) for r in rows]

    def revoke_key(self, key_id: str) -> None:
        with self.connection() as conn:
            row = conn.execute(
                "UPDATE stacworks.access_keys SET revoked_at = coalesce(revoked_at, now()) "
                "WHERE id = %s RETURNING id", (key_id,),
            ).fetchone()
        if row is None:
            raise NotFound(f"no key {key_id!r}")

    # -- authentication --------------------------------------------------------------------------

    def principal_for_token(self, token: str) -> Principal:
        """The principal of an API key or share token; :class:`InvalidCredentials` otherwise."""
        parsed = split_token(token)
        if parsed is None:
            raise InvalidCredentials("malformed credentials")
        prefix, token_id = parsed
        table = "access_keys" if prefix == KEY_PREFIX else "access_shares"
        with self.connection() as conn:
            row = conn.execute(
                f"SELECT * FROM stacworks.{table} WHERE id = %s", (token_id,)  # table from code
            ).fetchone()
            if row is None or not hash_matches(token, row["hash"]) or not _live(row):
                raise InvalidCredentials("unknown, expired or revoked credentials")
            if prefix == KEY_PREFIX:
                return Principal(id=f"key:{row['id']}", role=row["role"])
            creator = self._share_creator(conn, row)
        scope = ShareScope(id=row["id"], kind=row["kind"], target=row["target"], creator=creator)
        return Principal(id=None, role=None, share=scope)

    def _share_creator(self, conn: psycopg.Connection[Any], share: dict[str, Any]) -> Principal:
        """A share lends its creator's rights: a revoked or expired creator key ends it."""
        creator = share["created_by"]
        if creator and creator.startswith("key:"):
            row = conn.execute("SELECT * FROM stacworks.access_keys WHERE id = %s",
                               (creator[4:],)).fetchone()
            if row is None or not _live(row):
                raise InvalidCredentials("unknown, expired or revoked credentials")
            return Principal(id=creator, role=row["role"])
        return Principal(id=creator, role=share["creator_role"])

    # -- the rules -----------------------------------------------------------------------------

    def readable(self, principal: Principal, *, search_id: str | None = None) -> set[str] | None:
        """Collections ``principal`` may read (None: all of them).

        A share-link holder reads the public collections plus what the share opens: its
        collection, or (only on that search's routes, ``search_id``) what its creator reads.
        """
        if principal.admin:
            return None
        share = principal.share
        with self.connection() as conn:
            allowed = self._readable(conn, principal.id)
        if share is not None:
            creator = self.readable(share.creator)
            if share.kind == "collection":
                if creator is None or share.target in creator:
                    allowed.add(share.target)
            elif share.kind == "search" and search_id == share.target:
                return creator
        return allowed

    @staticmethod
    def _readable(conn: psycopg.Connection[Any], principal_id: str | None) -> set[str]:
        rows = conn.execute(
            "SELECT c.id FROM pgstac.collections c "
            "LEFT JOIN stacworks.access_collections a ON a.collection_id = c.id "
            "WHERE a.visibility = 'public' OR (%(p)s::text IS NOT NULL AND (a.owner = %(p)s "
            "  OR EXISTS (SELECT 1 FROM stacworks.access_grants g "
            "             WHERE g.collection_id = c.id AND g.principal = %(p)s)))",
            {"p": principal_id},
        ).fetchall()
        return {r["id"] for r in rows}

    def can_read(self, principal: Principal, collection_id: str) -> bool:
        allowed = self.readable(principal)
        return allowed is None or collection_id in allowed

    def can_write(self, principal: Principal, collection_id: str) -> bool:
        """Admins write everything; editors what they own or were granted write on."""
        if principal.admin:
            return True
        if principal.role != "editor" or principal.id is None:
            return False
        with self.connection() as conn:
            row = conn.execute(
                "SELECT 1 FROM stacworks.access_collections WHERE collection_id = %(c)s "
                "AND owner = %(p)s UNION ALL SELECT 1 FROM stacworks.access_grants "
                "WHERE collection_id = %(c)s AND principal = %(p)s AND permission = 'write'",
                {"c": collection_id, "p": principal.id},
            ).fetchone()
        return row is not None

    def collection_exists(self, collection_id: str) -> bool:
        with self.connection() as conn:
            return conn.execute("SELECT 1 FROM pgstac.collections WHERE id = %s",
                                (collection_id,)).fetchone() is not None

    # -- visibility and ownership --------------------------------------------------------------

    def claim_new_collection(self, collection_id: str, owner: str | None) -> None:
        """A collection about to be created is private to its creator; stale rights go."""
        with self.connection() as conn, conn.transaction():
            if conn.execute("SELECT 1 FROM pgstac.collections WHERE id = %s",
                            (collection_id,)).fetchone():
                return
            conn.execute("DELETE FROM stacworks.access_grants WHERE collection_id = %s",
                         (collection_id,))
            conn.execute("UPDATE stacworks.access_shares SET revoked_at = now() WHERE "
                         "kind = 'collection' AND target = %s AND revoked_at IS NULL",
                         (collection_id,))
            conn.execute(
                "INSERT INTO stacworks.access_collections (collection_id, visibility, owner) "
                "VALUES (%s, 'private', %s) ON CONFLICT (collection_id) DO UPDATE SET "
                "visibility = 'private', owner = EXCLUDED.owner, updated_at = now()",
                (collection_id, owner),
            )

    def set_visibility(self, collection_id: str, visibility: str) -> dict[str, Any]:
        if visibility not in _VISIBILITY:
            raise InvalidInput("visibility", f"expected one of {list(_VISIBILITY)}")
        if not self.collection_exists(collection_id):
            raise NotFound(f"no collection {collection_id!r}")
        with self.connection() as conn:
            row = conn.execute(
                "INSERT INTO stacworks.access_collections (collection_id, visibility) "
                "VALUES (%s, %s) ON CONFLICT (collection_id) DO UPDATE SET "
                "visibility = EXCLUDED.visibility, updated_at = now() "
                "RETURNING collection_id, visibility, owner",
                (collection_id, visibility),
            ).fetchone()
        assert row is not None
        return {"collection": row["collection_id"], "visibility": row["visibility"],
                "owner": row["owner"]}

    def visibility(self, collection_id: str) -> dict[str, Any]:
        with self.connection() as conn:
            row = conn.execute(
                "SELECT visibility, owner FROM stacworks.access_collections "
                "WHERE collection_id = %s", (collection_id,),
            ).fetchone()
        return {"collection": collection_id, "visibility": row["visibility"] if row else "private",
                "owner": row["owner"] if row else None}

    # -- grants --------------------------------------------------------------------------------

    def grant(self, principal_id: str, collection_id: str, permission: str,
              *, created_by: str | None = None) -> dict[str, Any]:
        if permission not in _PERMISSIONS:
            raise InvalidInput("permission", f"expected one of {list(_PERMISSIONS)}")
        if not principal_id.startswith(("key:", "oidc:")):
            raise InvalidInput("principal", "expected key:<id> or oidc:<subject>")
        if not self.collection_exists(collection_id):
            raise NotFound(f"no collection {collection_id!r}")
        with self.connection() as conn:
            conn.execute(
                "INSERT INTO stacworks.access_grants (principal, collection_id, permission, "
                "created_by) VALUES (%s, %s, %s, %s) ON CONFLICT (principal, collection_id) "
                "DO UPDATE SET permission = EXCLUDED.permission",
                (principal_id, collection_id, permission, created_by),
            )
        return {"principal": principal_id, "collection": collection_id, "permission": permission}

    def revoke_grant(self, principal_id: str, collection_id: str) -> None:
        with self.connection() as conn:
            conn.execute("DELETE FROM stacworks.access_grants WHERE principal = %s AND "
                         "collection_id = %s", (principal_id, collection_id))

    def list_grants(self, collection_id: str | None = None) -> list[dict[str, Any]]:
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT principal, collection_id, permission FROM stacworks.access_grants "
                "WHERE %s::text IS NULL OR collection_id = %s ORDER BY collection_id, principal",
                (collection_id, collection_id),
            ).fetchall()
        return [{"principal": r["principal"], "collection": r["collection_id"],
                 "permission": r["permission"]} for r in rows]

    # -- share links ---------------------------------------------------------------------------

    def create_share(self, kind: str, target: str, creator: Principal, *,
                     expires_in: timedelta) -> dict[str, Any]:
        """An expiring token lending ``creator``'s read access to one collection or search."""
        if kind == "collection":
            if not self.can_read(creator, target):
                raise NotFound(f"no collection {target!r}")
        elif kind == "search":
            with self.connection() as conn:
                if conn.execute("SELECT 1 FROM pgstac.searches WHERE hash = %s",
                                (target,)).fetchone() is None:
                    raise NotFound(f"no search {target!r}")
        else:
            raise InvalidInput("kind", "expected collection or search")
        share_id, token, digest = new_token(SHARE_PREFIX)
        expires = datetime.now(UTC) + expires_in
        with self.connection() as conn:
            conn.execute(
                "INSERT INTO stacworks.access_shares (id, kind, target, hash, created_by, "
                "creator_role, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (share_id, kind, target, digest, creator.id, creator.role or "viewer", expires),
            )
        return {"id": share_id, "kind": kind, "target": target, "token": token,
                "expires_at": expires.isoformat(), "created_by": creator.id}

    def list_shares(self, created_by: str | None = None) -> list[dict[str, Any]]:
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT id, kind, target, created_by, created_at, expires_at, revoked_at "
                "FROM stacworks.access_shares WHERE %s::text IS NULL OR created_by = %s "
                "ORDER BY created_at, id", (created_by, created_by),
            ).fetchall()
        return [{**r, **{k: r[k].isoformat() if r[k] else None
                         for k in ("created_at", "expires_at", "revoked_at")}} for r in rows]

    def revoke_share(self, share_id: str, *, by: Principal) -> None:
        with self.connection() as conn:
            row = conn.execute(
                "UPDATE stacworks.access_shares SET revoked_at = coalesce(revoked_at, now()) "
                "WHERE id = %s AND (%s OR created_by = %s) RETURNING id",
                (share_id, by.admin, by.id),
            ).fetchone()
        if row is None:
            raise NotFound(f"no share {share_id!r}")


def _live(row: dict[str, Any]) -> bool:
    now = datetime.now(UTC)
    if row.get("revoked_at") is not None:
        return False
    return row.get("expires_at") is None or row["expires_at"] > now


def _key_doc(row: dict[str, Any]) -> dict[str, Any]:
    doc = {"id": row["id"], "principal": f"key:{row['id']}", "name": row["name"],
           "role": row["role"]}
    for k in ("created_at", "expires_at", "revoked_at"):
        if k in row:
            doc[k] = row[k].isoformat() if row[k] else None
    return doc


def role_of(value: str) -> Role:
    if value not in ROLES:
        raise InvalidInput("role", f"expected one of {list(ROLES)}")
    return value  # type: ignore[return-value]
