"""The message a send request becomes (`server.outbound.new_message`), without HTTP: its id
in Meta's payload, its expiry, and the request hash that decides what an Idempotency-Key
replay is (pinned: stored hashes must keep matching after a deploy)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import orjson
import pytest

from db.messages import NewMessage
from server.outbound import new_message
from server.payloads import parse_send_request

_ID = UUID("0b5e6f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b")
_NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
_BODY = {
    "to": "+4915112345678",
    "type": "text",
    "text": {"body": "Your order #42 has shipped"},
    "metadata": {"order_id": 42},
}


def _message(
    body: dict[str, Any], default_validity_s: float | None = None, raw: bytes = b""
) -> NewMessage:
    return new_message(
        parse_send_request(raw or orjson.dumps(body)),
        phone_number_id="106540352242922",
        idempotency_key="order-42-shipped",
        default_validity_s=default_validity_s,
        message_id=_ID,
        now=_NOW,
    )


def test_the_message_carries_the_request_its_number_and_its_id_for_meta() -> None:
    m = _message(_BODY)
    assert (m.id, m.idempotency_key, m.phone_number_id) == (
        _ID,
        "order-42-shipped",
        "106540352242922",
    )
    assert (m.recipient, m.type, m.metadata) == ("4915112345678", "text", {"order_id": 42})
    assert m.payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "4915112345678",
        "type": "text",
        "text": {"body": "Your order #42 has shipped"},
        "biz_opaque_callback_data": str(_ID),
    }


@pytest.mark.parametrize(
    ("given", "default", "expires_at"),
    [
        (None, None, None),
        (None, 3600.0, _NOW + timedelta(hours=1)),
        (600, 3600.0, _NOW + timedelta(minutes=10)),
        (600, None, _NOW + timedelta(minutes=10)),
    ],
    ids=["never", "the default", "the request's over the default", "the request's"],
)
def test_expiry(given: int | None, default: float | None, expires_at: datetime | None) -> None:
    body = _BODY if given is None else {**_BODY, "validity_period_s": given}
    assert _message(body, default).expires_at == expires_at


@pytest.mark.parametrize(
    ("body", "request_hash"),
    [
        (_BODY, "2c2bc0793eba3b5ca7c166f823701dd67b53b93531280a7516c26bd8cb964d55"),
        (
            {**_BODY, "validity_period_s": 600},
            "f2d0b0caf1f18a54f77b101abdc0b8e1c989e6348ffe999682d97fca1fac4052",
        ),
    ],
    ids=["plain", "with a validity period"],
)
def test_request_hash_is_pinned(body: dict[str, Any], request_hash: str) -> None:
    assert _message(body).request_hash == request_hash
    assert _message(body, default_validity_s=60).request_hash == request_hash  # not the default


def test_request_hash_ignores_key_order_and_whitespace_but_not_content() -> None:
    reordered = b'{ "metadata": {"order_id": 42}, "text": {"body": "Your order #42 has shipped"},\n'
    reordered += b' "type": "text", "to": "+4915112345678" }'
    assert _message({}, raw=reordered).request_hash == _message(_BODY).request_hash
    other = {**_BODY, "metadata": {"order_id": 43}}
    assert _message(other).request_hash != _message(_BODY).request_hash
