"""API errors: a small hierarchy, each rendered as one JSON shape.

Every error body is `{"error": {"code": ..., "message": ..., "fields": [...]}}`; `fields`
appears when the error is about named fields (`ValidationError` and its subclasses: 400s, 413s
and 422s), one per field.
A dependency outage (`core.failures.OUTAGES`) is rendered as `Unavailable` by the app.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


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


def unknown_parameters(given: Iterable[str], allowed: Iterable[str]) -> list[dict[str, str]]:
    """A `fields` entry for each query parameter the route does not take."""
    unknown = sorted(set(given) - set(allowed))
    return [{"field": name, "message": "is not allowed"} for name in unknown]


class OutsideServiceWindow(ValidationError):
    """Meta would refuse it (131047): only a template may open a conversation."""

    status = 422
    code = "outside_service_window"


class MarketingOptedOut(ValidationError):
    """The contact stopped marketing messages from the number: Meta would fail it (131050)."""

    status = 422
    code = "marketing_opted_out"


class UnknownNumber(ValidationError):
    """The request names a business number this service does not send from."""

    status = 422
    code = "unknown_phone_number"


class TemplateRefused(ValidationError):
    """The template catalog says Meta would refuse this template send; `fields` names why."""

    status = 422
    code = "template_refused"


class TemplateNotFound(TemplateRefused):
    """No template of that name (Meta: 132001)."""

    code = "template_not_found"


class TemplateLanguageNotFound(TemplateRefused):
    """The template has no translation in that language (Meta: 132001)."""

    code = "template_language_not_found"


class TemplateNotApproved(TemplateRefused):
    """The template is not APPROVED in that language: pending, rejected, paused... (132015)."""

    code = "template_not_approved"


class TemplateParametersMismatch(TemplateRefused):
    """The parameters do not fit the template's placeholders or header (132000, 132012)."""

    code = "template_parameters_mismatch"


class TemplateNeedsPhoneNumber(TemplateRefused):
    """An AUTHENTICATION template sent to a business-scoped user id alone (Meta: 131062)."""

    code = "template_needs_phone_number"


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


class TooManyRequests(ApiError):
    status = 429
    code = "too_many_requests"


class Unavailable(ApiError):
    """A dependency (PostgreSQL, Redis) is down: the request did nothing and may be retried."""

    status = 503
    code = "unavailable"
