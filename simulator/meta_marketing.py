"""Marketing consent as the simulator plays it: users who stop or resume marketing messages
from a business number, Meta's 131050 for a MARKETING template to one who stopped, and the
Marketing Messages API endpoint (`/{phone_number_id}/marketing_messages`, routed to the same
send handler: `simulator.meta`).

- `POST /_sim/preferences`: `{"user", "value": "stop"|"resume"[, "phone_number_id",
  "user_id", "system_message": true, "timestamp"]}` records the preference and sends Meta's
  signed `user_preferences` webhook for it (with `system_message`, the
  `user_preference_changed` system message instead), stamped `timestamp` (unix seconds,
  default now); answers once the service answered the webhook.
- A MARKETING template (by the simulator's catalog) to a user who stopped is accepted with a
  wamid and then fails by status webhook with 131050, as at Meta.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from sanic import Request, Sanic
from sanic.response import HTTPResponse, json

from simulator.meta_inbound import new_wamid
from simulator.meta_webhooks import WABA_ID, Outbox
from simulator.recorder import recipient_key
from simulator.serve import loads

MARKETING_STOPPED = {
    "status": "failed",
    "code": 131050,
    "title": "Unable to deliver the message. This recipient has chosen to stop receiving "
    "marketing messages on WhatsApp from your business.",
    "details": "Unable to deliver the message. This recipient has chosen to stop receiving "
    "marketing messages on WhatsApp from your business.",
}
_DETAIL = {
    "stop": "User requested to stop marketing messages",
    "resume": "User requested to resume marketing messages",
}


class Consent:
    """Who stopped marketing messages from which business number."""

    def __init__(self) -> None:
        self.stopped: set[tuple[str, str]] = set()

    def reset(self) -> None:
        self.stopped.clear()

    def has_stopped(self, number: str, user: str | None) -> bool:
        return user is not None and (number, user) in self.stopped


def register(app: Sanic) -> None:
    """Add the preferences control and the consent state to the simulator app."""
    app.ctx.consent = Consent()
    app.add_route(set_preference, "/_sim/preferences", methods=["POST"])


def is_marketing(app: Sanic, body: dict[str, Any]) -> bool:
    """Whether a send is of a MARKETING template of the simulator's catalog."""
    return app.ctx.templates.category_of(body) == "MARKETING"


async def set_preference(request: Request) -> HTTPResponse:
    """Stop or resume a user's marketing messages, and tell the service as Meta would."""
    body = loads(request.body)
    config = request.app.ctx.config
    if not isinstance(body, dict) or body.get("value") not in _DETAIL:
        return json({"error": 'give {"user", "value": "stop"|"resume"}'}, status=400)
    user, user_id = recipient_key(body.get("user")), body.get("user_id")
    number = body.get("phone_number_id") or config.phone_number_id
    if user is None or number not in config.phone_number_ids:
        return json({"error": "user must be a phone number; phone_number_id ours"}, status=400)
    names = [user] + ([user_id] if isinstance(user_id, str) else [])
    consent: Consent = request.app.ctx.consent
    for name in names:
        if body["value"] == "stop":
            consent.stopped.add((number, name))
        else:
            consent.stopped.discard((number, name))
    outbox: Outbox = request.app.ctx.outbox
    if not outbox.url:
        return json({"webhook_status": None})
    at = body.get("timestamp")
    at = at if isinstance(at, int) and not isinstance(at, bool) else int(time.time())
    if body.get("system_message"):
        payload = outbox.value_envelope(_system_message(user, body["value"], at), number)
    else:
        payload = _webhook(number, user, user_id, body["value"], at)
    try:
        response = await outbox.post(payload)
    except httpx.HTTPError as exc:
        return json({"error": f"service unreachable: {type(exc).__name__}"}, status=502)
    return json({"webhook_status": response.status_code, "timestamp": at})


def _webhook(number: str, user: str, user_id: Any, value: str, at: int) -> dict[str, Any]:
    """Meta's `user_preferences` webhook for one user."""
    preference: dict[str, Any] = {
        "wa_id": user,
        "detail": _DETAIL[value],
        "category": "marketing_messages",
        "value": value,
        "timestamp": at,
    }
    if isinstance(user_id, str):
        preference["user_id"] = user_id
    value_ = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": number},
        "contacts": [{"profile": {"name": user}, "wa_id": user}],
        "user_preferences": [preference],
    }
    change = {"field": "user_preferences", "value": value_}
    return {"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [change]}]}


def _system_message(user: str, value: str, at: int) -> dict[str, Any]:
    """The `user_preference_changed` system message, in a `messages` change's value."""
    message = {
        "from": user,
        "id": new_wamid(),
        "timestamp": str(at),
        "type": "system",
        "system": {"body": _DETAIL[value], "marketing": value, "type": "user_preference_changed"},
    }
    return {"contacts": [{"profile": {"name": user}, "wa_id": user}], "messages": [message]}
