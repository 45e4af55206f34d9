"""SECURE_SSL_REDIRECT: a request that reached the platform's proxy over plain http gets a
301 to the same path and query on `https://PUBLIC_HOST`, before any handler (or body) is
touched. The request's own Host is never used: copied into `Location`, it would make the
service an open redirect wherever the proxy passes hosts it does not know. Without
PUBLIC_HOST there is nowhere safe to send the client, so the request gets a 400 naming
`X-Forwarded-Proto` instead.

The proxy terminates TLS and says how the request came in `X-Forwarded-Proto`. Exempt, as
in the seed's Django settings: `/ping/` (the platform's healthcheck speaks plain http) and
`/webhooks/` (Meta's POSTs must not be redirected: a redirected POST is not re-sent).
"""

from __future__ import annotations

import logging

from sanic import Request, Sanic
from sanic.response import HTTPResponse, redirect

from server.api_errors import ValidationError
from server.middleware.hosts import HEALTHCHECK_PATH

logger = logging.getLogger("server")

_EXEMPT = (HEALTHCHECK_PATH.rstrip("/"), "/webhooks/")


class HttpsRequired(ValidationError):
    code = "https_required"


def install(app: Sanic, public_host: str) -> None:
    if not public_host:
        logger.warning("SECURE_SSL_REDIRECT is on without PUBLIC_HOST: plain http gets 400")

    @app.on_request
    async def _to_https(request: Request) -> HTTPResponse | None:
        if request.headers.get("X-Forwarded-Proto", "").lower() != "http":
            return None
        if request.path.startswith(_EXEMPT):
            return None
        if not public_host:
            raise HttpsRequired(
                [{"field": "X-Forwarded-Proto", "message": "must be https: use https://"}]
            )
        query = f"?{request.query_string}" if request.query_string else ""
        return redirect(f"https://{public_host}{request.path}{query}", status=301)
