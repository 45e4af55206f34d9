"""Shared-secret checks, all in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from sanic import Request

from server.errors import Forbidden, Unauthorized


def matches_any(candidate: str, secrets: Iterable[str]) -> bool:
    """True if `candidate` equals one of `secrets`; compares against all of them."""
    given = candidate.encode()
    found = False
    for secret in secrets:
        found |= hmac.compare_digest(given, secret.encode())
    return found


def require_api_key(request: Request) -> None:
    key = request.headers.get("Api-Key")
    if not key:
        raise Unauthorized("missing Api-Key header")
    if not matches_any(key, request.app.ctx.settings.api_keys):
        raise Unauthorized("invalid Api-Key")


def require_health_token(request: Request) -> None:
    """Accepts `Authorization: Bearer <token>`, `X-Health-Token` or `?token=`."""
    if not health_token_ok(request.headers, request.args, request.app.ctx.settings):
        raise Unauthorized("a valid health check token is required")


def health_token_ok(headers: Mapping[str, str], query: Mapping[str, Any], settings: Any) -> bool:
    """The /health/ check on plain mappings, so the worker's metrics server shares it."""
    auth = headers.get("Authorization", "")
    token = (
        auth.removeprefix("Bearer ").strip()
        if auth.startswith("Bearer ")
        else headers.get("X-Health-Token") or query.get("token", "")
    )
    tokens = settings.health_check_tokens
    return bool(token and tokens and matches_any(token, tokens))


def verify_meta_signature(body: bytes, header: str | None, app_secret: str) -> None:
    """Meta signs the raw body: `X-Hub-Signature-256: sha256=<hex hmac>`."""
    if not header:
        raise Unauthorized("missing X-Hub-Signature-256 header")
    expected = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(header.strip().encode(), expected.encode()):
        raise Forbidden("invalid X-Hub-Signature-256 signature")
