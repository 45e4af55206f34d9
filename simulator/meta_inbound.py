"""`POST /_sim/inbound`: a user's message to a business number, as Meta's signed webhook.

The text shorthand names the user by number (`from`), by business-scoped user id
(`user_id`: without `from` they are a username user whose number Meta withholds), or both;
every message carries the BSUID (`from_user_id`, derived from the number when not given).
`{user_id, new_user_id}` and `{from, new_from}` send the system message Meta sends when a
user's BSUID or number changed.

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

from simulator.meta_webhooks import DISPLAY_PHONE_NUMBER, Outbox, user_id_of
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
    elif _sender(body) and isinstance(body.get("text"), str):
        payload = outbox.value_envelope(_text_message(body, outbox), number)
    elif _sender(body) and isinstance(body.get("new_user_id") or body.get("new_from"), str):
        payload = outbox.value_envelope(_id_change(body), number)
    else:
        return json(
            {
                "error": "give {from and/or user_id, text[, name, username, parent_user_id,"
                " id, phone_number_id]}, {user_id, new_user_id}, {from, new_from},"
                " {value} or {raw}"
            },
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


def _sender(body: dict[str, Any]) -> bool:
    return isinstance(body.get("from"), str) or isinstance(body.get("user_id"), str)


def _ids(body: dict[str, Any]) -> tuple[str | None, str]:
    """The user's number (None for a username user) and BSUID."""
    phone = digits(body["from"]) or body["from"] if isinstance(body.get("from"), str) else None
    user_id = body.get("user_id")
    return phone, user_id if isinstance(user_id, str) else user_id_of(phone or "")


def _text_message(body: dict[str, Any], outbox: Outbox) -> dict[str, Any]:
    phone, user_id = _ids(body)
    message: dict[str, Any] = {
        "from_user_id": user_id,
        "id": body.get("id") or new_wamid(),
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": body["text"]},
    }
    contact: dict[str, Any] = {"profile": {"name": body.get("name") or phone or user_id}}
    if phone is not None:
        message["from"] = contact["wa_id"] = phone
    contact["user_id"] = user_id
    parent = body.get("parent_user_id")
    if isinstance(parent, str):
        message["from_parent_user_id"] = contact["parent_user_id"] = parent
    username = body.get("username")
    if isinstance(username, str):
        contact["profile"]["username"] = outbox.usernames[user_id] = username
    if isinstance(body.get("reply_to"), str):
        message["context"] = {"from": DISPLAY_PHONE_NUMBER, "id": body["reply_to"]}
    return {"contacts": [contact], "messages": [message]}


def _id_change(body: dict[str, Any]) -> dict[str, Any]:
    """Meta's system message: the user's BSUID changed (`new_user_id`), or their number
    (`new_from`: a new number also gives a new BSUID). System messages have no contacts."""
    phone, user_id = _ids(body)
    new_phone = digits(body.get("new_from"))
    new_user_id = body.get("new_user_id") or user_id_of(new_phone or "")
    system: dict[str, Any] = {"previous_user_id": user_id, "user_id": new_user_id}
    if new_phone:
        body_text = f"User {body.get('name') or phone} changed from {phone} to {new_phone}"
        system.update(body=body_text, wa_id=new_phone, type="user_changed_number")
    else:
        system.update(body="User changed their user id", type="user_changed_user_id")
    message: dict[str, Any] = {
        "from_user_id": user_id,
        "id": new_wamid(),
        "timestamp": str(int(time.time())),
        "type": "system",
        "system": system,
    }
    if phone is not None:
        message["from"] = phone
    return {"messages": [message]}


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
