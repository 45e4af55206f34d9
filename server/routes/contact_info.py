"""`GET /api/v1/contacts/{wa_id}/`: what the service knows of a contact on a business number,
today its 24 h customer-service window (free-form messages only while it is open)."""

from __future__ import annotations

from datetime import UTC, datetime

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from db import service_windows
from server.api_errors import (
    NotFound,
    Unavailable,
    UnknownNumber,
    ValidationError,
    unknown_parameters,
)
from server.auth import require_api_key
from server.openapi.answers import ContactInfo
from server.openapi.operation import API_KEY, Param, number_param, operation
from server.web_context import web
from whatsapp.recipients import PHONE_PATTERN, parse_phone

bp = Blueprint("contacts", url_prefix="/api/v1/contacts")


@bp.get("/<wa_id:str>/")
@operation(
    "A contact's customer-service window",
    tag="contacts",
    params=(
        Param("wa_id", "path", {"type": "string", "pattern": PHONE_PATTERN}),
        number_param("the business number; required when WHATSAPP_PHONE_NUMBER_ID has several"),
    ),
    responses={200: ContactInfo},
    errors=(ValidationError, UnknownNumber, NotFound, Unavailable),
    auth=API_KEY,
)
async def contact(request: Request, wa_id: str) -> HTTPResponse:
    """Whether free-form messages may go to the contact now, until when, since when."""
    require_api_key(request)
    ctx = web(request)
    try:
        wa_id = parse_phone(wa_id)
    except ValueError as exc:
        raise ValidationError([{"field": "wa_id", "message": str(exc)}]) from None
    args = request.get_args(keep_blank_values=True)
    if unknown := unknown_parameters(args, {"phone_number_id"}):
        raise ValidationError(unknown)
    number = ctx.number(args.get("phone_number_id"), required=True)
    window = await service_windows.get(ctx.pool, number.id, wa_id)
    closed = window.closed_at
    body = {
        "wa_id": wa_id,
        "phone_number_id": number.id,
        "service_window": {
            "open": window.is_open(datetime.now(UTC)),
            "expires_at": _iso(window.expires_at),
            "last_inbound_at": _iso(window.last_inbound_at),
            "closed_by_meta_at": _iso(closed)
            if closed and window.last_inbound_at and closed >= window.last_inbound_at
            else None,
        },
    }
    return json(body)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
