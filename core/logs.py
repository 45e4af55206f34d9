"""Log set-up shared by every process: one JSON object per line, level from LOG_LEVEL.

Each line has `ts`, `level`, `logger`, `msg`, the fields bound to the current request or
task (`request_id`, ...), the record's own fields (`extra=`: `message_id`, `wamid`,
`event_id`, `entry_id`, `attempt`, ...) and `exc` for a traceback. Sanic's access lines
become `{"msg": "request", "method", "path", "status", "bytes", "duration_ms", ...}`, with
the query string left out (`/health/?token=` and Meta's `hub.verify_token` travel there).
Every configured secret is replaced by `[redacted]` wherever it would appear, as a last
line of defence: the code never logs secrets or message bodies in the first place.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import fields
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import orjson

REDACTED = "[redacted]"
_MIN_SECRET_LEN = 6  # shorter values would redact ordinary words
_context: ContextVar[Mapping[str, Any]] = ContextVar("log_context", default=MappingProxyType({}))
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "verbosity"}


def bind(**fields: Any) -> None:
    """Add fields to every line logged from here on in this request or task."""
    _context.set({**_context.get(), **fields})


def new_context(**fields: Any) -> None:
    """Start a fresh set of bound fields (a new request on a reused connection)."""
    _context.set(fields)


class JsonFormatter(logging.Formatter):
    """One JSON object per record; configured secrets never leave it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        kept = {s for s in secrets if len(s) >= _MIN_SECRET_LEN}
        self._secrets = sorted(kept, key=len, reverse=True)  # longest first: no partial leaks

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **_context.get(),
        }
        if record.name == "sanic.access":
            line.update(_access_fields(record))
        else:
            line.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = record.stack_info
        text = orjson.dumps(line, default=str).decode()
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def _access_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Sanic's access record, as fields; its `request` is "METHOD full-url" with the query."""
    method, _, url = str(getattr(record, "request", "")).partition(" ")
    duration = str(getattr(record, "duration", "")).strip().removesuffix("ms")
    return {
        "msg": "request",
        "method": method,
        "path": urlsplit(url).path,
        "status": getattr(record, "status", None),
        "bytes": getattr(record, "byte", None),
        "client": getattr(record, "host", None),
        "duration_ms": float(duration) if duration else None,
    }


def secrets_of(settings: Any) -> list[str]:
    """Every value of a setting marked secret: each key of a list, a URL and its password
    (a driver's error may quote the URL, or rebuild it)."""
    out: list[str] = []
    for f in fields(settings):
        if f.metadata.get("secret"):
            value = getattr(settings, f.name)
            if isinstance(value, dict):
                value = tuple(value.values())
            values = list(value) if isinstance(value, tuple) else [value]
            # An ApiKey (caller, key) is secret by its key alone: the caller's name is not.
            out += [getattr(v, "key", v) if isinstance(v, tuple) else str(v) for v in values]
    return out + [p for v in out if "://" in v and (p := _password(v))]


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Idempotent: the web factory runs once per Sanic worker."""
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_messaging", False)]:
        root.removeHandler(h)  # a second call (tests, reloads) replaces, never duplicates
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    handler._messaging = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Sanic's loggers must reach this handler rather than handlers of their own.
    for name in ("sanic.root", "sanic.error", "sanic.access", "sanic.server"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # httpx logs every request URL at INFO; ours are Meta and Hub calls, too many to log.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
