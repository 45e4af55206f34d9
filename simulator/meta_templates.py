"""Meta's template listing, played by the simulator, and a control that changes a status.

- `GET /{version}/{waba_id}/message_templates`: the catalog in pages, as Meta pages it:
  `limit` (default 25, Meta's), `after` (a cursor); the answer is `{"data": [...], "paging":
  {"cursors": {"before", "after"}, "next"}}`, with `next` only while more follow. It needs the
  bearer token (401, code 190); another WABA id is Meta's 400, code 100, subcode 33.
- `POST /_sim/templates`: `{"name", "language", "status"[, "reason"]}` sets that template's
  status and sends Meta's signed `message_template_status_update` webhook for it (to
  `SIM_WEBHOOK_URL`); `{"template": {...}}` adds a template object (or replaces the one of
  that name and language). `GET /_sim/templates` lists the catalog.
- A send of an AUTHENTICATION template to a business-scoped user id alone is refused with
  131062 (`needs_phone_number`), as Meta refuses one-tap, zero-tap and copy-code templates.
- `POST /_sim/templates/faults`: `{"responses": [...]}`, answers consumed one per listing
  call, shaped as in `/_sim/scenarios` (`{"status": 500}`, `{"ok": true}` to pass one).

The catalog starts as `simulator.template_catalog`; its WABA is `WHATSAPP_BUSINESS_ACCOUNT_ID`
(default: the id the simulator's webhooks carry).
"""

from __future__ import annotations

import base64
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from sanic import Request, Sanic
from sanic.response import HTTPResponse, json

from simulator.meta_checks import error_body
from simulator.meta_media import _denied, _unknown_object
from simulator.meta_webhooks import WABA_ID, Outbox
from simulator.scenarios import step_error
from simulator.serve import env_str, loads
from simulator.template_catalog import default_catalog

PAGE_SIZE = 25  # Meta's default `limit`
MAX_PAGE_SIZE = 1000


@dataclass
class TemplateState:
    waba_id: str
    templates: list[dict[str, Any]] = field(default_factory=default_catalog)
    faults: deque[dict[str, Any]] = field(default_factory=deque)

    def find(self, name: Any, language: Any) -> dict[str, Any] | None:
        return next(
            (t for t in self.templates if t["name"] == name and t["language"] == language), None
        )

    def category_of(self, body: dict[str, Any]) -> str | None:
        """The catalog category (`MARKETING`...) of the template a send carries; None for a
        send that is not of a template the catalog lists."""
        sent = body.get("template") if body.get("type") == "template" else None
        if not isinstance(sent, dict) or not isinstance(sent.get("language"), dict):
            return None
        listed = self.find(sent.get("name"), sent["language"].get("code"))
        return listed.get("category") if listed is not None else None


def register(app: Sanic) -> None:
    """Add the template routes and catalog to the simulator app."""
    app.ctx.templates = TemplateState(env_str("WHATSAPP_BUSINESS_ACCOUNT_ID", WABA_ID))
    app.add_route(listing, "/<version:str>/<waba_id:str>/message_templates", methods=["GET"])
    app.add_route(change_template, "/_sim/templates", methods=["POST"])
    app.add_route(show_catalog, "/_sim/templates", methods=["GET"])
    app.add_route(set_listing_faults, "/_sim/templates/faults", methods=["POST"])


async def listing(request: Request, version: str, waba_id: str) -> HTTPResponse:
    """Meta's `GET /{version}/{waba_id}/message_templates`, one page."""
    state: TemplateState = request.app.ctx.templates
    denied = _denied(request)
    if denied:
        return denied
    if waba_id != state.waba_id:
        return _unknown_object(request, waba_id)
    fault = state.faults.popleft() if state.faults else {}
    if fault.get("status", 200) >= 300:
        status, body = step_error(fault)
        return json(body, status=status)
    try:
        limit = int(request.args.get("limit", PAGE_SIZE))
        start = _position(request.args.get("after")) + 1 if request.args.get("after") else 0
    except ValueError:
        return json(error_body(100, "(#100) Invalid parameter", "Invalid limit or cursor"), 400)
    if not 1 <= limit <= MAX_PAGE_SIZE:
        return json(error_body(100, "(#100) Invalid parameter", "Param limit out of range"), 400)
    page = state.templates[start : start + limit]
    body: dict[str, Any] = {"data": page}
    if page:
        last = start + len(page) - 1
        body["paging"] = {"cursors": {"before": _cursor(start), "after": _cursor(last)}}
        if last + 1 < len(state.templates):
            query = urlencode({"limit": limit, "after": _cursor(last)})
            body["paging"]["next"] = f"{request.scheme}://{request.host}{request.path}?{query}"
    return json(body)


async def change_template(request: Request) -> HTTPResponse:
    """Add a template, or set one's status and send Meta's status webhook for it."""
    state: TemplateState = request.app.ctx.templates
    body = loads(request.body)
    if not isinstance(body, dict):
        return json({"error": "body must be a JSON object"}, status=400)
    if isinstance(body.get("template"), dict):
        added = body["template"]
        old = state.find(added.get("name"), added.get("language"))
        state.templates = [t for t in state.templates if t is not old] + [added]
        return json({"template": added})
    template = state.find(body.get("name"), body.get("language"))
    if template is None or not isinstance(body.get("status"), str):
        return json({"error": "give {name, language, status} of a listed template"}, status=400)
    template["status"] = body["status"]
    outbox: Outbox = request.app.ctx.outbox
    if not outbox.url:
        return json({"template": template, "webhook_status": None})
    try:
        response = await outbox.post(_status_update(state.waba_id, template, body.get("reason")))
    except httpx.HTTPError as exc:
        return json({"error": f"service unreachable: {type(exc).__name__}"}, status=502)
    return json({"template": template, "webhook_status": response.status_code})


async def show_catalog(request: Request) -> HTTPResponse:
    """The whole catalog, as it stands."""
    return json({"data": request.app.ctx.templates.templates})


async def set_listing_faults(request: Request) -> HTTPResponse:
    """Queue answers for the next listing calls."""
    body = loads(request.body)
    responses = body.get("responses") if isinstance(body, dict) else None
    if not isinstance(responses, list) or not all(isinstance(r, dict) for r in responses):
        return json({"error": "give {responses: [...]}"}, status=400)
    request.app.ctx.templates.faults.extend(responses)
    return json({"queued": len(request.app.ctx.templates.faults)})


def needs_phone_number(app: Sanic, body: dict[str, Any]) -> bool:
    """Whether a send is of an AUTHENTICATION template, which Meta sends to a phone number only
    (131062 to a business-scoped user id)."""
    state: TemplateState = app.ctx.templates
    return state.category_of(body) == "AUTHENTICATION"


def _status_update(waba_id: str, template: dict[str, Any], reason: Any) -> dict[str, Any]:
    """Meta's webhook for a template's new status (one entry, one change)."""
    value = {
        "event": template["status"],
        "message_template_id": int(template["id"]) if str(template.get("id")).isdigit() else None,
        "message_template_name": template["name"],
        "message_template_language": template["language"],
        "reason": reason if isinstance(reason, str) else "NONE",
        "message_template_category": template.get("category"),
    }
    change = {"field": "message_template_status_update", "value": value}
    entry = {"id": waba_id, "time": int(time.time()), "changes": [change]}
    return {"object": "whatsapp_business_account", "entry": [entry]}


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"tpl:{position}".encode()).decode().rstrip("=")


def _position(cursor: str) -> int:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode(errors="replace")
    if not raw.startswith("tpl:"):
        raise ValueError("not a cursor of ours")
    return int(raw.removeprefix("tpl:"))
