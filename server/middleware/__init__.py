"""What stands between Sanic and the handlers.

`install()` registers the request hooks: the request id (`request_ids`), the allowed hosts
(`hosts`) and the HTTPS redirect (`ssl_redirect`). Request bodies are read against caps
(`bodies`; multipart uploads stream through `form_stream`), so a handler judges the caller
before any of a body is read.
"""

from __future__ import annotations

from sanic import Sanic

from core.settings import Settings
from server.middleware import hosts, request_ids, ssl_redirect


def install(app: Sanic, settings: Settings) -> None:
    """Register the request id, then the host check, then (if on) the HTTPS redirect."""
    request_ids.install(app)
    hosts.install(app, settings)  # before the redirect: a foreign host is never redirected
    if settings.secure_ssl_redirect:
        ssl_redirect.install(app, settings.public_host)
