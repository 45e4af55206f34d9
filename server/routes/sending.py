"""The Hub's API: send a message, read its status.

A send is read and checked here (caller, body, Idempotency-Key, business number, template,
service window), turned into the message to store by `server.outbound` (pure), stored and
published with its neighbours' by the send batcher (`server.send_batch`), and answered from
the `Accepted` model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from core import logs
from db import messages, service_windows, statuses
from db.messages import NewMessage
from server.api_errors import (
    Conflict,
    MarketingOptedOut,
    NotFound,
    OutsideServiceWindow,
    PayloadTooLarge,
    Unavailable,
    UnknownNumber,
    ValidationError,
)
from server.auth import require_api_key
from server.catalog.check import REFUSALS, check_template
from server.consent import require_marketing_consent
from server.middleware.bodies import read_body
from server.openapi.answers import Accepted, MessageStatus
from server.openapi.operation import API_KEY, Body, Param, Reply, operation
from server.outbound import new_message
from server.payloads import parse_send_request, send_request_schema
from server.routes.metrics import MESSAGES_ACCEPTED
from server.web_context import web
from whatsapp.recipients import Recipient

bp = Blueprint("messages", url_prefix="/api/v1/messages")

# Printable ASCII, like Stripe's keys; long enough for a UUID with a prefix.
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_TIMESTAMPS = (
    "created_at",
    "sending_at",
    "sent_at",
    "delivered_at",
    "read_at",
    "played_at",
    "failed_at",
    "expires_at",
    "purged_at",
    "priced_at",
)


@bp.post("/send/", ignore_body=True)  # read once the caller is known (below)
@operation(
    "Send a message",
    tag="messages",
    body=Body(send_request_schema, "SendRequest", "Meta's message object, plus `metadata`"),
    params=(
        Param(
            "Idempotency-Key",
            "header",
            {"type": "string", "pattern": _IDEMPOTENCY_KEY.pattern},
            required=False,
            description="the same key with the same body returns the same message, sent once",
        ),
    ),
    responses={
        202: Reply(
            Accepted,
            "stored and queued",
            headers=(
                Param("Location", "header", description="the status URL"),
                Param("Idempotent-Replayed", "header", {"const": "true"}, required=False),
            ),
        )
    },
    errors=(
        ValidationError,
        UnknownNumber,
        OutsideServiceWindow,
        *REFUSALS,
        MarketingOptedOut,
        Conflict,
        PayloadTooLarge,
        Unavailable,
    ),
    auth=API_KEY,
)
async def send(request: Request) -> HTTPResponse:
    """Validate, store as queued, publish to the outbound stream, answer 202."""
    caller = require_api_key(request)
    ctx = web(request)
    body = await read_body(request, ctx.settings.max_send_body_bytes)
    key = _idempotency_key(request.headers.get("Idempotency-Key"))
    req = parse_send_request(body)
    number = ctx.number(req.phone_number_id)
    category = await check_template(ctx.templates, req)  # against the catalog, if any
    await require_marketing_consent(ctx.pool, number.id, req.addressee, category)
    if ctx.settings.service_window_check and req.type != "template":
        await _require_open_window(ctx.pool, number.id, req.addressee.key)
    message = new_message(
        req,
        phone_number_id=number.id,
        idempotency_key=key,
        default_validity_s=ctx.settings.message_validity_s,
        template_category=category,
        caller=caller,
    )
    logs.bind(message_id=str(message.id))  # on every line of this request, the access line too
    outcome = await ctx.sends.submit(message)
    if outcome.kind == "unavailable":
        raise Unavailable("the message queue is unavailable; the message was not accepted")
    if outcome.kind == "accepted":
        MESSAGES_ACCEPTED.labels(message.type).inc()
        return _accepted(message, outcome.row)
    logs.bind(message_id=str(outcome.row["id"]), idempotent_replay=True)
    if outcome.kind == "conflict":
        raise Conflict("Idempotency-Key was already used with a different request body")
    return _accepted(message, outcome.row, replayed=True)


@bp.get("/status/<message_id:str>/")
@operation(
    "Read a message's status",
    tag="messages",
    params=(Param("message_id", "path", {"type": "string", "format": "uuid"}),),
    responses={200: MessageStatus},
    errors=(ValidationError, NotFound, Unavailable),
    auth=API_KEY,
)
async def status(request: Request, message_id: str) -> HTTPResponse:
    """Everything we know about one message: status, wamid, timestamps, error, timeline."""
    require_api_key(request)
    try:
        uid = UUID(message_id)
    except ValueError:
        raise ValidationError([{"field": "message_id", "message": "must be a UUID"}]) from None
    logs.bind(message_id=str(uid))
    pool = web(request).pool
    row = await messages.get(pool, uid)
    if row is None:
        raise NotFound(f"no message with id {uid}")
    timeline = [{"status": "queued", "at": _iso(row["created_at"]), "source": "api"}]
    if row["sending_at"]:
        timeline.append({"status": "sending", "at": _iso(row["sending_at"]), "source": "sender"})
    for t in await statuses.timeline(pool, uid):
        entry = {"status": t["status"], "at": _iso(t["occurred_at"]), "source": t["source"]}
        if t["details"]:
            entry["details"] = t["details"]
        timeline.append(entry)
    body: dict[str, Any] = {
        "id": str(row["id"]),
        "status": row["status"],
        **Recipient.stored(row["recipient"], row["recipient_user_id"]).hub_fields(),
        "type": row["type"],
        "phone_number_id": row["phone_number_id"],
        "wamid": row["wamid"],
        "metadata": row["metadata"],
        "idempotency_key": row["idempotency_key"],
        "error": row["error"],
        "attempts": row["attempts"],
        "caller": row["caller"],
        "pricing": _pricing(row),
        **{name: _iso(row[name]) for name in _TIMESTAMPS},
        "timeline": timeline,
    }
    return json(body)


def _pricing(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """Meta's pricing of the message (its first status with `pricing`), or None until then."""
    if row["priced_at"] is None:
        return None
    names = ("billable", "model", "type", "category")
    return {name: row[f"pricing_{name}"] for name in names}


def _idempotency_key(header: str | None) -> str | None:
    if header is not None and not _IDEMPOTENCY_KEY.match(header):
        message = "must be 1 to 255 printable ASCII characters without spaces"
        raise ValidationError([{"field": "Idempotency-Key", "message": message}])
    return header


def _accepted(
    message: NewMessage, row: Mapping[str, Any], *, replayed: bool = False
) -> HTTPResponse:
    """The 202 for `message`, stored as `row` (id, status, created_at). On a replay `row` is
    the key's earlier message: the same key, number and request hash, so the same message
    but for those three."""
    message_id = str(row["id"])  # asyncpg's UUID type, which orjson cannot write
    answer = Accepted(
        id=message_id,
        status=row["status"],
        **Recipient.stored(message.recipient, message.recipient_user_id).hub_fields(),
        type=message.type,
        phone_number_id=message.phone_number_id,
        idempotency_key=message.idempotency_key,
        created_at=row["created_at"],
        status_url=_status_url(message_id),
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    headers["Location"] = answer.status_url
    # Python mode: the app's orjson writes the dates as isoformat() does (`+00:00`), where
    # pydantic's JSON mode would write `Z`.
    return json(answer.model_dump(), status=202, headers=headers)


async def _require_open_window(pool: asyncpg.Pool, number: str, identifier: str) -> None:
    """Free-form messages reach a contact (by phone number or BSUID) only within 24 h of its
    last message to the number (Meta: 131047)."""
    window = await service_windows.get(pool, number, identifier)
    if not window.is_open(datetime.now(UTC)):
        since = (
            f"its last message to {number} was at {window.last_inbound_at.isoformat()}"
            if window.last_inbound_at
            else f"it never wrote to {number}"
        )
        raise OutsideServiceWindow(
            [
                {
                    "field": "type",
                    "message": f"must be template: the contact's 24 h customer-service window "
                    f"is closed ({since})",
                }
            ]
        )


def _status_url(message_id: str) -> str:
    return f"/api/v1/messages/status/{message_id}/"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
