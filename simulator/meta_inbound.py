"""`POST /_sim/inbound`: a user's message to a business number, as Meta's signed webhook.

The service's answer is awaited and returned, so a test knows the webhook was taken. The
wamids sent this way are the ones mark-read calls may name; the senders open their service
window on the number (`simulator.meta_windows`).
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import httpx
from sanic import Request
from sanic.response import HTTPResponse, json

from simulator.meta_webhooks import DISPLAY_PHONE_NUMBER, Outbox
from simulator.recorder import digits
from simulator.serve import loads


async def inbound(request: Request) -> HTTPResponse:
    """Send one signed inbound webhook now; answer once the service has answered it."""
    outbox: Outbox = request.app.ctx.outbox
    body = loads(request.body)
    if not outbox.url:
        return json({"error": "SIM_WEBHOOK_URL is not set"}, status=409)
    if not isinstance(body, dict):
        return json({"error": "body must be a JSON object"}, status=400)
    number = body.get("phone_number_id")
    if number is not None and number not in request.app.ctx.config.phone_number_ids:
        return json({"error": f"phone_number_id {number!r} is not one of ours"}, status=400)
    if isinstance(body.get("raw"), dict):
        payload = body["raw"]
    elif isinstance(body.get("value"), dict):
        payload = outbox.value_envelope(body["value"], number)
    elif isinstance(body.get("from"), str) and isinstance(body.get("text"), str):
        payload = outbox.value_envelope(_text_message(body), number)
    else:
        return json(
            {"error": "give {from, text[, name, id, phone_number_id]}, {value} or {raw}"},
            status=400,
        )
    request.app.ctx.media.inbound.update(_wamids(payload))  # for mark-read calls
    request.app.ctx.windows.wrote(payload)
    try:
        response = await outbox.post(payload)
    except httpx.HTTPError as exc:
        return json({"error": f"service unreachable: {type(exc).__name__}"}, status=502)
    if response.status_code != 200:
        return json(
            {
                "error": "service did not answer 200",
                "status_code": response.status_code,
                "body": response.text[:2000],
            },
            status=502,
        )
    return json({"wamid": _first_wamid(payload)})


def _text_message(body: dict[str, Any]) -> dict[str, Any]:
    sender = digits(body["from"]) or body["from"]
    message: dict[str, Any] = {
        "from": sender,
        "id": body.get("id") or new_wamid(),
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": body["text"]},
    }
    if isinstance(body.get("reply_to"), str):
        message["context"] = {"from": DISPLAY_PHONE_NUMBER, "id": body["reply_to"]}
    name = body.get("name") or sender
    return {"contacts": [{"profile": {"name": name}, "wa_id": sender}], "messages": [message]}


def new_wamid() -> str:
    # Meta's ids are base64 after "wamid."; random bytes keep them unique and as opaque.
    return "wamid." + base64.b64encode(secrets.token_bytes(30)).decode()


def _first_wamid(payload: dict[str, Any]) -> str | None:
    return next(iter(_wamids(payload)), None)


def _wamids(payload: dict[str, Any]) -> list[str]:
    """The ids of the messages in a webhook payload, in order."""
    try:
        return [
            message["id"]
            for entry in payload["entry"]
            for change in entry["changes"]
            for message in change["value"].get("messages", [])
            if isinstance(message.get("id"), str)
        ]
    except (KeyError, TypeError, AttributeError):
        return []
