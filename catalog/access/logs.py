"""Credentials in query strings (``key=``, ``token=``) never reach a log line."""

from __future__ import annotations

import logging
import re

__all__ = ["ScrubSecrets", "install_log_scrubber", "scrub"]

_SECRET = re.compile(r"(?i)([?&](?:key|token|access_token)=)[^&#\s\"']*")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def scrub(text: str) -> str:
    return _BEARER.sub(r"\1***", _SECRET.sub(r"\1***", text))


class ScrubSecrets(logging.Filter):
    """Rewrites a record's message and arguments with the secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(scrub(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: scrub(v) if isinstance(v, str) else v
                           for k, v in record.args.items()}
        return True


def install_log_scrubber() -> None:
    """On uvicorn's loggers and every handler of the root logger (idempotent)."""
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn", ""):
        logger = logging.getLogger(name)
        if not any(isinstance(f, ScrubSecrets) for f in logger.filters):
            logger.addFilter(ScrubSecrets())
        for handler in logger.handlers:
            if not any(isinstance(f, ScrubSecrets) for f in handler.filters):
                handler.addFilter(ScrubSecrets())
