"""Per-request time budget: a tile request past it is answered 503, and its threads stop.

A GDAL read cannot be interrupted once started, so the work is bounded in two ways: each read
is bounded in pixels (:meth:`tiler.readers.GTiffReader` refuses reads over
``STACWORKS_TILES_MAX_PIXELS``), and every read starts with :func:`checkpoint`, which raises
once the request's budget has passed, its client has gone, or the server is shutting down. So
a thread working for an abandoned request stops after at most one bounded read instead of
finishing a mosaic of hundreds of reads nobody will see.

The budget travels in a context variable: starlette runs sync endpoints through anyio, which
copies the context into the worker thread, and :mod:`tiler.threads` does the same for
rio-tiler's read pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import TimeBudgetExceeded

__all__ = ["RequestBudget", "TimeBudgetMiddleware", "checkpoint", "current_budget"]

log = logging.getLogger(__name__)

_budget: ContextVar[RequestBudget | None] = ContextVar("stacworks_tile_budget", default=None)
#: Set while the server shuts down: every request's remaining reads stop.
_shutting_down = threading.Event()


@dataclass
class RequestBudget:
    """When one request must be done by, and whether its answer is still wanted."""

    seconds: float
    started: float = field(default_factory=time.monotonic)
    abandoned: threading.Event = field(default_factory=threading.Event)
    reason: str = ""
    spent: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def expired(self) -> bool:
        return time.monotonic() - self.started > self.seconds

    def abandon(self, reason: str) -> None:
        self.reason = self.reason or reason
        self.abandoned.set()

    def spend(self, what: str, amount: int) -> int:
        """Add ``amount`` to this request's count of ``what`` (points read, say: one request
        may read several assets in several threads); returns the total so far."""
        with self._lock:
            self.spent[what] = self.spent.get(what, 0) + amount
            return self.spent[what]


def current_budget() -> RequestBudget | None:
    """The budget of the request this thread works for (None outside a request)."""
    return _budget.get()


def checkpoint() -> None:
    """Raise :class:`TimeBudgetExceeded` if the current request's work should stop."""
    budget = _budget.get()
    if _shutting_down.is_set():
        raise TimeBudgetExceeded("the server is shutting down")
    if budget is None:
        return
    if budget.abandoned.is_set():
        raise TimeBudgetExceeded(budget.reason or "the request was abandoned")
    if budget.expired:
        budget.abandon(f"took longer than STACWORKS_TILES_TIME_BUDGET_S={budget.seconds:g} s")
        raise TimeBudgetExceeded(budget.reason)


def stop_all_work() -> None:
    """Make every request's next :func:`checkpoint` raise (server shutdown)."""
    _shutting_down.set()


def resume_work() -> None:
    """Undo :func:`stop_all_work` (a new app started in the same process, as in tests)."""
    _shutting_down.clear()


@dataclass(frozen=True)
class TimeBudgetMiddleware:
    """Answer 503 (with ``Retry-After``) when a request runs past ``seconds``, and mark its
    budget abandoned when that happens, when its client disconnects, or when the server
    cancels it on shutdown, so its threads stop at their next :func:`checkpoint`."""

    app: ASGIApp
    seconds: float

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        budget = RequestBudget(self.seconds)
        state = {"started": False, "answered": False}

        async def guarded_send(message: Message) -> None:
            if state["answered"]:
                return  # we already answered 503: late output is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        inner_receive = receive
        watcher: asyncio.Task[None] | None = None
        if scope.get("method") in ("GET", "HEAD"):
            # No body to read: watch the connection for a disconnect while the tile renders.
            queue: asyncio.Queue[Message] = asyncio.Queue()

            async def watch() -> None:
                while True:
                    message = await receive()
                    await queue.put(message)
                    if message["type"] == "http.disconnect":
                        budget.abandon("the client disconnected")
                        return

            watcher = asyncio.create_task(watch())
            inner_receive = queue.get

        async def run() -> None:
            await self.app(scope, inner_receive, guarded_send)

        token = _budget.set(budget)
        try:
            task = asyncio.create_task(run())
        finally:
            _budget.reset(token)
        try:
            done, _ = await asyncio.wait({task}, timeout=self.seconds)
            if task in done:
                task.result()  # re-raise what the app raised, as without this middleware
                return
            budget.abandon(f"took longer than STACWORKS_TILES_TIME_BUDGET_S={self.seconds:g} s")
            log.warning("%s %s: %s", scope.get("method"), scope.get("path"), budget.reason)
            if not state["started"]:
                state["answered"] = True
                await _answer_503(send, f"The request {budget.reason}; try a smaller area "
                                        "or a higher zoom level.")
            # The worker thread finishes its current bounded read, then stops; its task is
            # left to end by itself (awaiting it would hold this response open).
            task.add_done_callback(_swallow)
            task.cancel()
        except asyncio.CancelledError:  # server shutdown, or the connection was torn down
            budget.abandon("the request was cancelled")
            task.cancel()
            task.add_done_callback(_swallow)
            raise
        finally:
            if watcher is not None:
                watcher.cancel()


def _swallow(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.info("abandoned tile request ended with %r", task.exception())


async def _answer_503(send: Send, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    with contextlib.suppress(OSError, RuntimeError):
        await send({
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"5"),
                (b"cache-control", b"no-store"),
            ],
        })
        await send({"type": "http.response.body", "body": body})
