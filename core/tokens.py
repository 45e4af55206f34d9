"""Shared-secret checks, all in constant time, on plain strings and mappings.

The web (`server.auth`) and the worker's metrics server both call these, so a token is
accepted or refused the same way wherever it is presented. A presented value may hold
anything a client sent: header bytes that are not UTF-8 reach us surrogate-escaped, and
are compared (and refused) like any other wrong value.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["health_token_ok", "matches_any", "signature_ok"]


def matches_any(candidate: str, secrets: Iterable[str]) -> bool:
    """True if `candidate` equals one of `secrets`; compares against all of them."""
    given = _bytes(candidate)
    found = False
    for secret in secrets:
        found |= hmac.compare_digest(given, secret.encode())
    return found


def health_token_ok(
    headers: Mapping[str, str], query: Mapping[str, Any], tokens: Iterable[str]
) -> bool:
    """`Authorization: Bearer <token>`, `X-Health-Token` or `?token=` is one of `tokens`."""
    auth = headers.get("Authorization", "")
    token = (
        auth.removeprefix("Bearer ").strip()
        if auth.startswith("Bearer ")
        else headers.get("X-Health-Token") or query.get("token", "")
    )
    tokens = tuple(tokens)
    return bool(token and tokens and matches_any(token, tokens))


def signature_ok(body: bytes, header: str, secret: str) -> bool:
    """`header` is `sha256=<hex HMAC-SHA256 of body with secret>` (Meta's webhook signature)."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(_bytes(header.strip()), expected.encode())


def _bytes(presented: str) -> bytes:
    return presented.encode("utf-8", "surrogatepass")
