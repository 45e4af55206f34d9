"""`POST /api/v1/messages/{wamid}/read/`: mark an inbound message read, in Meta's request.

A cheap call Meta answers at once, so it runs in the web process and the Hub gets Meta's
outcome: no queue, no row. The wamid is the one the Hub received in `message.received`; the
call goes from the number the message was received on (stored with it), else the one the
body names, else the default.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import pydantic
from pydantic import BaseModel, ConfigDict
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from core import logs
from db import inbound
from server import meta_answers
from server.api_errors import PayloadTooLarge, UnknownNumber, ValidationError
from server.auth import require_api_key
from server.middleware.bodies import read_body
from server.openapi.answers import MarkedRead
from server.openapi.operation import API_KEY, Body, Param, operation
from server.payloads.field_errors import to_fields
from server.web_context import web

bp = Blueprint("reads", url_prefix="/api/v1/messages")

# Meta's ids are "wamid." + base64, so they may hold "/", "+" and "=" (send "/" as %2F or raw).
_WAMID = re.compile(r"^wamid\.[\x21-\x7e]{1,500}$")
_MAX_BODY_BYTES = 4096  # two options, with room for whitespace


class ReadRequest(BaseModel):
    """The optional body: `{"typing_indicator": true}` also shows "typing..." to the user."""

    model_config = ConfigDict(extra="forbid", strict=True)

    typing_indicator: bool = False
    phone_number_id: str | None = None  # when the service never stored the message


@bp.post("/<wamid:path>/read/", ignore_body=True)  # read once the caller is known
@operation(
    "Mark an inbound message read",
    tag="messages",
    body=Body(ReadRequest, "ReadRequest", "optional", required=False),
    params=(Param("wamid", "path", {"type": "string", "pattern": _WAMID.pattern}),),
    responses={200: MarkedRead},
    errors=(ValidationError, UnknownNumber, PayloadTooLarge, *meta_answers.CALL_ERRORS),
    auth=API_KEY,
)
async def mark_read(request: Request, wamid: str) -> HTTPResponse:
    """Tell Meta the message was read (blue ticks), optionally with the typing indicator."""
    require_api_key(request)
    body = await read_body(request, _MAX_BODY_BYTES)
    wamid = unquote(wamid)
    logs.bind(wamid=wamid)
    if not _WAMID.match(wamid):
        raise ValidationError(
            [{"field": "wamid", "message": "must be an inbound message's wamid (wamid....)"}]
        )
    options = _options(body)
    payload: dict[str, object] = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": wamid,
    }
    if options.typing_indicator:
        payload["typing_indicator"] = {"type": "text"}
    ctx = web(request)
    received = await inbound.get(ctx.pool, wamid)
    number = ctx.number(received["phone_number_id"] if received else options.phone_number_id)
    url, headers, client = number.messages_url, number.bearer, ctx.meta
    await meta_answers.call(
        client, client.build_request("POST", url, json=payload, headers=headers)
    )
    return json({"wamid": wamid, "status": "read", "typing_indicator": options.typing_indicator})


def _options(raw: bytes) -> ReadRequest:
    if not raw:  # no body at all; whitespace is not JSON, so it is a 400 like other non-JSON
        return ReadRequest()
    try:
        return ReadRequest.model_validate_json(raw)
    except pydantic.ValidationError as exc:
        raise ValidationError(to_fields(exc, ReadRequest)) from None
