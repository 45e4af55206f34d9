"""The web process: `create_app()` wires settings, resources, blueprints and error bodies.

The Procfile (through `python -m server`) and the tests build the app with this factory.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse, json

from core import exposition
from core.failures import OUTAGES
from core.logs import configure_logging, secrets_of
from core.settings import Settings
from server import middleware
from server.api_errors import ApiError, Unavailable
from server.middleware import bodies
from server.openapi import document, page
from server.routes import (
    contact_info,
    health,
    media_files,
    metrics,
    reads,
    sending,
    template_listing,
    usage,
    webhook_intake,
)
from server.web_context import close_web, open_web

logger = logging.getLogger("server")

# Sanic's ceiling for any body; each route that takes one reads it against its own, lower
# cap (server.middleware.bodies), and media uploads stream (server.routes.media_files) and
# check their own limit.
_MAX_REQUEST_BYTES = 8 * 1024 * 1024
APP_NAME = "messaging"


def create_app(settings: Settings | None = None, name: str = APP_NAME) -> Sanic:
    """Build the Sanic app; resources open in `before_server_start`, close on stop."""
    settings = settings or Settings.from_env(process="web")
    configure_logging(settings.log_level, secrets_of(settings))
    app = Sanic(name, dumps=orjson.dumps, configure_logging=False)
    app.config.REQUEST_MAX_SIZE = _MAX_REQUEST_BYTES
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.MOTD = False
    # SIGTERM: requests in flight get SHUTDOWN_TIMEOUT_S, then connections close (Sanic's
    # default 15 s ignores our setting, and busy keep-alive clients never go idle).
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = settings.shutdown_timeout_s
    routes = (sending, reads, contact_info, media_files, webhook_intake, health, metrics)
    routes += (document, page, template_listing, usage)
    app.blueprint([module.bp for module in routes])
    middleware.install(app, settings)

    @app.before_server_start
    async def _open(app: Sanic) -> None:
        app.ctx.web = await open_web(settings)

    @app.after_server_stop
    async def _close(app: Sanic) -> None:
        await close_web(app.ctx.web)
        exposition.mark_dead()

    app.error_handler.add(Exception, _render_error)
    return app


def _render_error(request: Request, exc: Exception) -> HTTPResponse:
    """Every error is JSON; a dependency outage is a 503, never a 500."""
    if isinstance(exc, ApiError) and exc.status in _REFUSED_UNREAD:
        bodies.close_if_unread(request)
    if isinstance(exc, ApiError):
        return json(exc.body(), status=exc.status, headers=exc.headers)
    if isinstance(exc, SanicException):
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return json(
            {"error": {"code": code, "message": str(exc)}},
            status=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
    if isinstance(exc, OUTAGES):
        logger.warning("dependency unavailable path=%s error=%s", request.path, type(exc).__name__)
        err: Any = Unavailable("a dependency (PostgreSQL or Redis) is unavailable; retry")
        return json(err.body(), status=err.status, headers={"Retry-After": "5"})
    logger.exception("unhandled error path=%s", request.path)
    return json({"error": {"code": "internal_error", "message": "internal error"}}, status=500)


# Refusals that never want the body: an unknown caller or host, a body too large, too many
# uploads (a 400 given once the body was read leaves nothing unread).
_REFUSED_UNREAD = frozenset({400, 401, 403, 413, 429})
