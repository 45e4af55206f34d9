"""Shared plumbing of the simulators: env parsing, a quiet Sanic app, single-process run."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import orjson
from sanic import Sanic

# Connections still open on SIGTERM get this long; the simulators must stop within a second.
_SHUTDOWN_S = 0.5


def env_str(name: str, default: str = "", *, required: bool = False) -> str:
    """A string setting; a required one that is missing stops the process with its name."""
    value = os.environ.get(name, "").strip() or default
    if required and not value:
        sys.exit(f"config error: {name} is missing")
    return value


def env_int(name: str, default: int) -> int:
    """An integer setting; a malformed value stops the process with its name."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        sys.exit(f"config error: {name} must be an integer, got {raw!r}")
    if value < 0:
        sys.exit(f"config error: {name} must be >= 0, got {value}")
    return value


def loads(raw: bytes) -> Any:
    """The JSON in `raw`, or None when it is empty or not JSON."""
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


def new_app(name: str) -> Sanic:
    """A Sanic app that answers JSON errors, logs only warnings and stops fast."""
    app = Sanic(name, configure_logging=False, dumps=orjson.dumps)
    app.config.MOTD = False
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = _SHUTDOWN_S
    app.config.GRACEFUL_TCP_CLOSE_TIMEOUT = _SHUTDOWN_S
    return app


def run(app: Sanic, host: str, port: int, label: str) -> None:
    """Serve in this process until SIGTERM/SIGINT; print one line once listening."""
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")

    @app.after_server_start
    async def _announce(app: Sanic) -> None:
        print(f"{label} listening on http://{host}:{port}", flush=True)

    app.run(host=host, port=port, single_process=True, access_log=False, motd=False)
