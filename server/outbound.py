"""A validated send request turned into the message the web stores and queues (`NewMessage`).

Pure: no I/O and no HTTP. `server.routes.sending` reads and checks the request, then asks
this what to store: a fresh id (also Meta's `biz_opaque_callback_data`, so every status
webhook names the message), Meta's payload, the request hash that makes a retry with the
same Idempotency-Key "the same body", the business number, when the message expires, and the
caller (the API key's name) that usage counts it under.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import orjson

from db.messages import NewMessage
from server.payloads import SendRequest


def new_message(
    req: SendRequest,
    *,
    phone_number_id: str,
    idempotency_key: str | None,
    default_validity_s: float | None,
    template_category: str | None = None,
    caller: str = "default",
    message_id: UUID | None = None,
    now: datetime | None = None,
) -> NewMessage:
    """The message `req` asks for, from `phone_number_id`; it expires `validity_period_s`
    (else `default_validity_s`; neither: never) after `now`. `template_category` (the
    catalog's, of a template) is stored beside it, never sent to Meta."""
    message_id = message_id or uuid4()
    payload = req.meta_payload("")
    request_hash = _request_hash(req, payload)
    payload["biz_opaque_callback_data"] = str(message_id)
    validity_s = req.validity_period_s or default_validity_s
    expires_at = None
    if validity_s:
        expires_at = (now or datetime.now(UTC)) + timedelta(seconds=validity_s)
    addressee = req.addressee
    return NewMessage(
        id=message_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        recipient=addressee.key,
        recipient_user_id=addressee.user_id,
        type=req.type,
        payload=payload,
        metadata=req.metadata,
        phone_number_id=phone_number_id,
        expires_at=expires_at,
        template_category=template_category,
        caller=caller,
    )


def _request_hash(req: SendRequest, payload: dict[str, Any]) -> str:
    """Same key + same request = same message. The parsed request is hashed, not the raw
    bytes, so a retry that only re-orders keys or whitespace is still "the same body"; the
    payload is hashed before it carries the message's own id. Stored with every message, so
    a change here makes every earlier key's retry a 409."""
    canonical = {"payload": payload, "metadata": req.metadata}
    if req.validity_period_s is not None:  # part of "the same body" only when given
        canonical["validity_period_s"] = req.validity_period_s
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()
