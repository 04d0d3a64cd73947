"""Small ASGI plumbing shared by the middlewares of every service.

Lives on the ground floor (``catalog``) so the tiler, processing and the composed app can
use it without importing each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import Message, Receive, Scope, Send

__all__ = ["app_path", "buffered", "replay"]


def app_path(scope: Scope) -> str:
    """The request path below the app's ``root_path`` (as routes see it)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def replay(body: bytes | None, receive: Receive) -> Receive:
    """A ``receive`` that hands an already-read body to the app first, then defers to ``receive``.

    ``None`` means the body was not read, so the original ``receive`` is returned untouched.
    """
    if body is None:
        return receive
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


Finish = Callable[[Message, bytes], Awaitable[None]]


def buffered(send: Send, finish: Finish) -> Send:
    """A ``send`` that holds the response start and body, then calls ``finish(start, body)``.

    Messages other than the response body (or a body before any start) pass straight through.
    Only for bounded answers (documents, tiles): the whole body is kept in memory.
    """
    start: Message | None = None
    chunks: list[bytes] = []

    async def buffering(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        await finish(start, b"".join(chunks))

    return buffering
