"""Webhooks: events queued per target in the database (one row per event and webhook, unique by
event key), POSTed as JSON signed with HMAC-SHA256, retried with back-off on 5xx, 429 and
time-outs, every attempt logged on the delivery.

Signature (``X-Stacworks-Signature: t=<unix seconds>,v1=<hex>``): HMAC-SHA256 with the
webhook's secret over ``"<t>.<raw body>"``. A receiver recomputes it, compares in constant
time and rejects old timestamps (replays); :func:`verify` does exactly that.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from processing.db import Database
from processing.errors import InvalidInput, NotFound
from processing.triggers.settings import TriggerSettings
from processing.triggers.store import returned

__all__ = ["EVENTS", "SIGNATURE_HEADER", "Webhooks", "sign", "verify"]

log = logging.getLogger(__name__)

EVENTS = ("job.finished", "job.failed", "subscription.matched", "budget.threshold")
SIGNATURE_HEADER = "X-Stacworks-Signature"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: float = 300,
           now: float | None = None) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and is recent (a receiver's check)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), f"t={timestamp},v1={parts.get('v1')}")


def check_url(url: str, allow_private: bool, field: str = "url") -> None:
    """An http(s) URL whose host resolves only to public addresses (unless ``allow_private``):
    a webhook or a polled source must not reach the server's own network (metadata services,
    databases on loopback). Checked when created and again before each request (DNS changes)."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise InvalidInput(field, "not a valid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(field, "expected an http(s) URL")
    if allow_private:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, None)}
    except (OSError, UnicodeError):
        raise InvalidInput(field, f"cannot resolve {parts.hostname!r}") from None
    for address in addresses:
        ip = ipaddress.ip_address(str(address).split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not ip.is_global or ip.is_multicast:
            raise InvalidInput(field, "private and loopback addresses are not allowed "
                                      "(STACWORKS_TRIGGERS_ALLOW_PRIVATE_URLS)")


class Webhooks:
    """Webhook targets, the event outbox and its delivery."""

    def __init__(self, db: Database, settings: TriggerSettings,
                 client: httpx.Client | None = None) -> None:
        self.db = db
        self.settings = settings
        self.client = client or httpx.Client(timeout=settings.webhook_timeout_seconds,
                                             follow_redirects=False)

    # -- targets -------------------------------------------------------------------------------

    def create(self, owner: str | None, url: str, events: list[str],
               secret: str | None = None) -> dict[str, Any]:
        check_url(url, self.settings.allow_private_urls)
        unknown = sorted(set(events) - set(EVENTS))
        if unknown or not events:
            raise InvalidInput("events", f"choose from {list(EVENTS)}"
                               + (f" (unknown: {unknown[0]!r})" if unknown else ""))
        with self.db.connection() as conn:
            n = conn.execute("SELECT count(*) AS n FROM stacworks.trigger_webhooks "
                             "WHERE owner IS NOT DISTINCT FROM %s", (owner,)).fetchone()
            if n and n["n"] >= self.settings.max_per_owner:
                raise InvalidInput("url", f"at most {self.settings.max_per_owner} webhooks per "
                                          "owner (STACWORKS_TRIGGERS_MAX_PER_OWNER)")
            row = returned(conn.execute(
                "INSERT INTO stacworks.trigger_webhooks (id, owner, url, secret, events) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING *",
                (f"whk_{uuid.uuid4().hex[:16]}", owner, url, secret or secrets.token_urlsafe(32),
                 json.dumps(sorted(set(events)))),
            ).fetchone())
        return row  # the secret is shown here, once

    def find(self, owner: str | None | bool) -> list[dict[str, Any]]:
        """Webhooks of ``owner`` (True: everyone's), without their secrets."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT id, owner, url, events, paused, created_at FROM "
                "stacworks.trigger_webhooks WHERE %s OR owner IS NOT DISTINCT FROM %s "
                "ORDER BY created_at, id", (owner is True, None if owner is True else owner),
            ).fetchall()
        return list(rows)

    def owner_of(self, webhook_id: str) -> str | None:
        with self.db.connection() as conn:
            row = conn.execute("SELECT owner FROM stacworks.trigger_webhooks WHERE id = %s",
                               (webhook_id,)).fetchone()
        if row is None:
            raise NotFound(f"webhook {webhook_id!r} does not exist")
        return row["owner"]  # type: ignore[no-any-return]

    def delete(self, webhook_id: str) -> None:
        with self.db.connection() as conn:
            conn.execute("DELETE FROM stacworks.trigger_webhooks WHERE id = %s", (webhook_id,))

    def deliveries(self, webhook_id: str, limit: int = 100) -> list[dict[str, Any]]:
        with self.db.connection() as conn:
            return list(conn.execute(
                "SELECT id, event, event_key, status, attempts, last_status, last_error, log, "
                "payload, created_at, delivered_at, next_attempt_at FROM "
                "stacworks.trigger_deliveries WHERE webhook_id = %s ORDER BY id DESC LIMIT %s",
                (webhook_id, limit),
            ).fetchall())

    # -- events --------------------------------------------------------------------------------

    def emit(self, event: str, key: str, owner: str | None, payload: dict[str, Any]) -> int:
        """Queue ``event`` for every webhook of ``owner`` that wants it; once per ``key``."""
        body = {"event": event, "key": key, "data": payload}
        with self.db.connection() as conn:
            cur = conn.execute(
                "INSERT INTO stacworks.trigger_deliveries (webhook_id, event, event_key, payload) "
                "SELECT id, %s, %s, %s FROM stacworks.trigger_webhooks WHERE NOT paused "
                "AND owner IS NOT DISTINCT FROM %s AND events ? %s "
                "ON CONFLICT (webhook_id, event_key) DO NOTHING",
                (event, key, json.dumps(body, default=str), owner, event),
            )
            return cur.rowcount

    def emit_job_events(self) -> int:
        """Queue job.finished / job.failed for jobs that ended recently (idempotent by key)."""
        lookback = timedelta(hours=self.settings.job_event_lookback_hours)
        with self.db.connection() as conn:
            cur = conn.execute(
                "INSERT INTO stacworks.trigger_deliveries (webhook_id, event, event_key, payload) "
                "SELECT w.id, ev.name, 'job:' || e.id || ':' || e.status, jsonb_build_object("
                "'event', ev.name, 'key', 'job:' || e.id || ':' || e.status, 'data', "
                "jsonb_build_object('job_id', e.id, 'process_id', e.process_id, "
                "'workflow_id', e.workflow_id, 'status', e.status, 'error', e.error, "
                "'cause', e.cause, 'finished', e.finished_at)) "
                "FROM stacworks.processing_executions e "
                "CROSS JOIN LATERAL (SELECT CASE WHEN e.status = 'successful' THEN 'job.finished' "
                "ELSE 'job.failed' END AS name) ev "
                "JOIN stacworks.trigger_webhooks w ON w.owner IS NOT DISTINCT FROM e.principal "
                "AND NOT w.paused AND w.events ? ev.name AND w.created_at <= e.finished_at "
                "WHERE e.status IN ('successful', 'failed', 'dismissed') "
                "AND e.finished_at > now() - %s "
                "ON CONFLICT (webhook_id, event_key) DO NOTHING",
                (lookback,),
            )
            return cur.rowcount

    # -- delivery ------------------------------------------------------------------------------

    def deliver_due(self, now: datetime | None = None, limit: int = 50) -> int:
        """Try each due delivery once (rows locked: several servers share the outbox)."""
        done = 0
        for _ in range(limit):
            with self.db.connection() as conn, conn.transaction():
                row = conn.execute(
                    "SELECT d.*, w.url, w.secret FROM stacworks.trigger_deliveries d "
                    "JOIN stacworks.trigger_webhooks w ON w.id = d.webhook_id "
                    "WHERE d.status = 'pending' AND d.next_attempt_at <= coalesce(%s, now()) "
                    "ORDER BY d.next_attempt_at, d.id LIMIT 1 FOR UPDATE OF d SKIP LOCKED",
                    (now,),
                ).fetchone()
                if row is None:
                    return done
                self._attempt(conn, row, now or datetime.now(UTC))
                done += 1
        return done

    def _attempt(self, conn: Any, row: dict[str, Any], now: datetime) -> None:
        body = json.dumps(row["payload"], separators=(",", ":"), default=str).encode()
        stamp = int(time.time())
        headers = {"Content-Type": "application/json",
                   SIGNATURE_HEADER: sign(row["secret"], body, stamp),
                   "X-Stacworks-Event": row["event"],
                   "X-Stacworks-Delivery": str(row["id"]),
                   "User-Agent": "stacworks-webhooks"}
        status: int | None = None
        error: str | None = None
        started = time.monotonic()
        try:
            check_url(row["url"], self.settings.allow_private_urls)
            # streamed and closed unread: a receiver's answer is its status, not its body
            with self.client.stream("POST", row["url"], content=body,
                                    headers=headers) as response:
                status = response.status_code
        except InvalidInput as exc:
            error = str(exc)
        except httpx.TimeoutException:
            error = "timed out"
        except httpx.HTTPError as exc:
            error = f"connection failed ({type(exc).__name__})"
        attempts = row["attempts"] + 1
        entry = {"at": now.isoformat(), "status": status, "error": error,
                 "seconds": round(time.monotonic() - started, 3)}
        if status is not None and 200 <= status < 300:
            outcome, next_at = "delivered", None
        elif (status is None or status >= 500 or status == 429) and (
            attempts < self.settings.webhook_max_attempts
        ):
            outcome = "pending"
            next_at = now + timedelta(
                seconds=self.settings.webhook_backoff_seconds * 2 ** (attempts - 1))
        else:
            outcome, next_at = "failed", None
        conn.execute(
            "UPDATE stacworks.trigger_deliveries SET status = %s, attempts = %s, "
            "last_status = %s, last_error = %s, log = log || %s::jsonb, "
            "next_attempt_at = coalesce(%s, next_attempt_at), "
            "delivered_at = CASE WHEN %s THEN now() END WHERE id = %s",
            (outcome, attempts, status, error or (f"HTTP {status}" if outcome != "delivered"
                                                  else None),
             json.dumps([entry]), next_at, outcome == "delivered", row["id"]),
        )
        if outcome == "failed":
            log.warning("webhook delivery %s to webhook %s given up after %s attempts",
                        row["id"], row["webhook_id"], attempts)  # a URL may hold a token
