"""The web's checks of the caller: the Hub's Api-Key, a health token, Meta's signature."""

from __future__ import annotations

from sanic import Request

from core.api_keys import caller_of
from core.tokens import health_token_ok, signature_ok
from server.api_errors import Forbidden, Unauthorized
from server.web_context import web


def require_api_key(request: Request) -> str:
    """The caller (the name of the key presented: `default` for a bare key), or 401."""
    key = request.headers.get("Api-Key")
    if not key:
        raise Unauthorized("missing Api-Key header")
    caller = caller_of(key, web(request).settings.api_keys)
    if caller is None:
        raise Unauthorized("invalid Api-Key")
    return caller


def require_health_token(request: Request) -> None:
    """Accepts `Authorization: Bearer <token>`, `X-Health-Token` or `?token=`."""
    tokens = web(request).settings.health_check_tokens
    if not health_token_ok(request.headers, request.args, tokens):
        raise Unauthorized("a valid health check token is required")


def verify_meta_signature(body: bytes, header: str | None, app_secret: str) -> None:
    """Meta signs the raw body: `X-Hub-Signature-256: sha256=<hex hmac>`."""
    if not header:
        raise Unauthorized("missing X-Hub-Signature-256 header")
    if not signature_ok(body, header, app_secret):
        raise Forbidden("invalid X-Hub-Signature-256 signature")
