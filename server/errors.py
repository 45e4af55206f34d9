"""API errors: a small hierarchy, each rendered as one JSON shape.

Every error body is `{"error": {"code": ..., "message": ..., "fields": [...]}}`; `fields`
appears when the error is about named fields (400s, a media file too large), one per field.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# PostgreSQL or Redis unreachable: a 503 in the web process, a retry in place in consumers.
OUTAGES = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    # A pooled connection PostgreSQL just dropped (restart, failover) can fail its next query
    # with "cannot switch to state ...; another operation is in progress" before asyncpg
    # notices the socket is gone: an outage too, not a bug of ours.
    asyncpg.InternalClientError,
    RedisConnectionError,
    RedisTimeoutError,
)

# Worth retrying the same work in place: an outage, or PostgreSQL aborting one of two
# concurrent transactions (it is nobody's fault and the retry succeeds).
TRANSIENT = (*OUTAGES, asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


class ApiError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class ValidationError(ApiError):
    status = 400
    code = "validation_error"

    def __init__(self, fields: list[dict[str, str]], message: str = "") -> None:
        super().__init__(message or "; ".join(f"{f['field']}: {f['message']}" for f in fields))
        self.fields = fields

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"]["fields"] = self.fields
        return body


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class Unavailable(ApiError):
    """A dependency (PostgreSQL, Redis) is down: the request did nothing and may be retried."""

    status = 503
    code = "unavailable"
