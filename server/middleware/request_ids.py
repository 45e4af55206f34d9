"""`X-Request-ID`: taken from the caller when it is sane, else generated; echoed in the
response and bound to every log line of the request (Sanic's access line included).

The id is bound when Sanic creates the request, before the body is read, so even a 413 or
a 401 carries it; a fresh binding per request keeps a reused connection from leaking the
previous request's id.
"""

from __future__ import annotations

import re
import uuid

from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse

from core import logs

HEADER = "X-Request-ID"
# Callers' ids (a proxy's, the Hub's trace id) are kept if short and plain; anything else
# could forge log lines or bloat them, so it is replaced rather than rejected.
_VALID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")


def request_id_of(value: str | None) -> str:
    """The caller's id if it is acceptable, else a new one."""
    if value and _VALID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def install(app: Sanic) -> None:
    """Register the signal that binds the id and the middleware that echoes it."""

    @app.signal("http.lifecycle.request")
    async def _bind(request: Request) -> None:
        request.ctx.request_id = request_id_of(request.headers.get(HEADER))
        logs.new_context(request_id=request.ctx.request_id)

    @app.on_response
    async def _echo(request: Request, response: BaseHTTPResponse) -> None:
        rid = getattr(request.ctx, "request_id", None) or request_id_of(None)
        response.headers[HEADER] = rid
