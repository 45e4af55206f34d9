"""`GET /api/v1/contacts/{contact_id}/`: what the service knows of a person on a business number:
the identifiers and username Meta revealed for them (`db.contacts`), their 24 h
customer-service window (free-form messages only while it is open) and their marketing
preference (`server.consent`), asked by phone number or by business-scoped user id (BSUID)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import unquote

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from db import contacts, service_windows
from server.api_errors import (
    NotFound,
    Unavailable,
    UnknownNumber,
    ValidationError,
    unknown_parameters,
)
from server.auth import require_api_key
from server.consent import preference
from server.openapi.answers import ContactInfo
from server.openapi.operation import API_KEY, Param, number_param, operation
from server.web_context import web
from whatsapp.recipients import (
    PHONE_PATTERN,
    PHONE_RULE,
    USER_ID_PATTERN,
    is_parent_user_id,
    is_user_id,
    parse_phone,
    parse_user_id,
)

bp = Blueprint("contacts", url_prefix="/api/v1/contacts")
PATH_PARAM = "contact_id"
_PATTERN = f"^({PHONE_PATTERN.strip('^$')}|{USER_ID_PATTERN.strip('^$')})$"
_RULE = f"{PHONE_RULE}, or a business-scoped user id (US.13491208655302741918)"


@bp.get(f"/<{PATH_PARAM}:str>/")
@operation(
    "A person's identifiers, customer-service window and marketing preference",
    tag="contacts",
    params=(
        Param(
            PATH_PARAM,
            "path",
            {"type": "string", "pattern": _PATTERN},
            description="the phone number (a leading + may be given, also as %2B) or the"
            " business-scoped user id (BSUID) or parent BSUID",
        ),
        number_param("the business number; required when WHATSAPP_PHONE_NUMBER_ID has several"),
    ),
    responses={200: ContactInfo},
    errors=(ValidationError, UnknownNumber, NotFound, Unavailable),
    auth=API_KEY,
)
async def contact(request: Request, contact_id: str) -> HTTPResponse:
    """Who the person is (every identifier known) and whether free-form messages may go to
    them now, until when, since when."""
    require_api_key(request)
    ctx = web(request)
    identifier = _identifier(unquote(contact_id))  # `%2B` for `+`: the router leaves it
    args = request.get_args(keep_blank_values=True)
    if unknown := unknown_parameters(args, {"phone_number_id"}):
        raise ValidationError(unknown)
    number = ctx.number(args.get("phone_number_id"), required=True)
    person = await contacts.get(ctx.pool, number.id, identifier)
    window = await service_windows.get(ctx.pool, number.id, identifier)
    closed = window.closed_at
    marketing = await preference(ctx.pool, number.id, identifier)
    body = {
        **_known(person, identifier),
        "phone_number_id": number.id,
        "service_window": {
            "open": window.is_open(datetime.now(UTC)),
            "expires_at": _iso(window.expires_at),
            "last_inbound_at": _iso(window.last_inbound_at),
            "closed_by_meta_at": _iso(closed)
            if closed and window.last_inbound_at and closed >= window.last_inbound_at
            else None,
        },
        "marketing": {
            "value": marketing.value if marketing else None,
            "changed_at": _iso(marketing.at) if marketing else None,
            "source": marketing.source if marketing else None,
        },
    }
    return json(body)


def _identifier(text: str) -> str:
    """The phone number's digits, or the BSUID as given; a 400 naming the path parameter."""
    try:
        return parse_user_id(text) if is_user_id(text) else parse_phone(text)
    except ValueError:
        raise ValidationError([{"field": PATH_PARAM, "message": _RULE}]) from None


def _known(person: contacts.Contact | None, identifier: str) -> dict[str, str | None]:
    """The person's identifiers and username; only the one asked about when none is linked."""
    if person is not None:
        return {
            "wa_id": person.phone,
            "user_id": person.user_id,
            "parent_user_id": person.parent_user_id,
            "username": person.username,
        }
    known = dict.fromkeys(("wa_id", "user_id", "parent_user_id", "username"))
    if not is_user_id(identifier):
        known["wa_id"] = identifier
    else:
        known["parent_user_id" if is_parent_user_id(identifier) else "user_id"] = identifier
    return known


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
