"""ALLOWED_HOSTS: a request whose `Host` header names a host the service does not answer to
gets 400, before any handler (or body) is touched. The service builds no URL from the
request's host (`ssl_redirect` redirects to PUBLIC_HOST), so this is defence in depth, as in
the seed's Django settings.

Django's rules: an entry matches the host without its port, case-insensitively, with a
trailing dot ignored; `.example.com` matches `example.com` and every subdomain; `*` matches
any host; empty (the default) checks nothing. PUBLIC_HOST is always allowed. `/ping/` is
exempt: the platform's healthcheck names a host of its own (`healthcheck.railway.app`).
"""

from __future__ import annotations

import re

from sanic import Request, Sanic

from core.settings import Settings
from server.api_errors import ValidationError

HEALTHCHECK_PATH = "/ping/"
# A host name or IPv4 address (perhaps with the root's trailing dot), or an IPv6 address in
# brackets, then an optional port.
_HOST = re.compile(r"(?P<name>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?\.?|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


class DisallowedHost(ValidationError):
    code = "disallowed_host"


def install(app: Sanic, settings: Settings) -> None:
    """Check every request's Host against ALLOWED_HOSTS (and PUBLIC_HOST), when set."""
    patterns = settings.allowed_hosts
    if not patterns or "*" in patterns:
        return
    if settings.public_host:
        patterns += (name_of(settings.public_host) or settings.public_host,)

    @app.on_request
    async def _check_host(request: Request) -> None:
        if request.path == HEALTHCHECK_PATH:
            return
        header = request.headers.get("host", "")
        name = name_of(header)
        if name is None or not any(_matches(name, p) for p in patterns):
            message = f"{header[:100]!r} is not a host this service answers to"
            raise DisallowedHost([{"field": "Host", "message": message}])


def name_of(host: str) -> str | None:
    """The host name of a Host header value: lower case, no port, no trailing dot; None when
    it is not a host name (user info, a path, spaces...)."""
    found = _HOST.fullmatch(host.strip().lower())
    return found["name"].rstrip(".") if found else None


def _matches(name: str, pattern: str) -> bool:
    if pattern.startswith("."):
        return name == pattern[1:] or name.endswith(pattern)
    return name == pattern
