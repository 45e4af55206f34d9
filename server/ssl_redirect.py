"""SECURE_SSL_REDIRECT: a request that reached the platform's proxy over plain http gets a
301 to the same URL on https, before any handler (or body) is touched.

The proxy terminates TLS and says how the request came in `X-Forwarded-Proto`. Exempt, as
in the seed's Django settings: `/ping/` (the platform's healthcheck speaks plain http) and
`/webhooks/` (Meta's POSTs must not be redirected: a redirected POST is not re-sent).
"""

from __future__ import annotations

from sanic import Request, Sanic
from sanic.response import HTTPResponse, redirect

_EXEMPT = ("/ping", "/webhooks/")


def install(app: Sanic) -> None:
    @app.on_request
    async def _to_https(request: Request) -> HTTPResponse | None:
        if request.headers.get("X-Forwarded-Proto", "").lower() != "http":
            return None
        if request.path.startswith(_EXEMPT):
            return None
        query = f"?{request.query_string}" if request.query_string else ""
        return redirect(f"https://{request.host}{request.path}{query}", status=301)
