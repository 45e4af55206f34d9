"""`python -m simulator.meta`: plays Meta's WhatsApp Cloud API for dev runs, tests and benchmarks.

It accepts send calls like Meta (token, phone number id, body checks), answers with a wamid,
then sends signed status webhooks to `SIM_WEBHOOK_URL`. Faults are injected per recipient
through `/_sim/scenarios`; `/_sim/messages` and `/_sim/stats` show what it received.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from sanic import Request, Sanic
from sanic.response import HTTPResponse, json

from simulator import meta_media, meta_templates
from simulator.meta_checks import check_message, error_body, invalid
from simulator.meta_webhooks import DISPLAY_PHONE_NUMBER, Outbox, status_object
from simulator.recorder import Recorder, digits
from simulator.scenarios import NORMAL, Scenario, parse_scenario, step_error
from simulator.serve import env_int, env_str, loads, new_app, run

_VERSION = re.compile(r"v[0-9]+\.[0-9]+")


@dataclass(frozen=True)
class Config:
    host: str
    port: int
    access_token: str
    app_secret: str
    phone_number_id: str
    webhook_url: str
    status_delay_ms: int
    batch_ms: int

    @classmethod
    def from_env(cls) -> Config:
        """Read the environment once; a missing credential stops the process."""
        return cls(
            host=env_str("SIM_HOST", "127.0.0.1"),
            port=env_int("SIM_PORT", 8025),
            access_token=env_str("WHATSAPP_ACCESS_TOKEN", required=True),
            app_secret=env_str("WHATSAPP_APP_SECRET", required=True),
            phone_number_id=env_str("WHATSAPP_PHONE_NUMBER_ID", required=True),
            webhook_url=env_str("SIM_WEBHOOK_URL"),
            status_delay_ms=env_int("SIM_STATUS_DELAY_MS", 50),
            batch_ms=env_int("SIM_BATCH_MS", 20),
        )


def create_app(config: Config | None = None, name: str = "meta-simulator") -> Sanic:
    """The simulator app; its webhook client opens in `before_server_start`."""
    config = config or Config.from_env()
    app = new_app(name)
    app.ctx.config = config
    app.ctx.recorder = Recorder()
    app.ctx.scenarios = {}

    @app.before_server_start
    async def _open(app: Sanic) -> None:
        app.ctx.outbox = Outbox(
            config.webhook_url, config.app_secret, config.phone_number_id, config.batch_ms
        )
        await app.ctx.outbox.start()

    @app.after_server_stop
    async def _close(app: Sanic) -> None:
        await app.ctx.outbox.stop()

    app.add_route(send, "/<version:str>/<phone_number_id:str>/messages", methods=["POST"])
    app.add_route(set_scenario, "/_sim/scenarios", methods=["POST"])
    app.add_route(inbound, "/_sim/inbound", methods=["POST"])
    app.add_route(messages, "/_sim/messages", methods=["GET"])
    app.add_route(stats, "/_sim/stats", methods=["GET"])
    app.add_route(reset, "/_sim/reset", methods=["POST"])
    meta_media.register(app)
    meta_templates.register(app)
    return app


async def send(request: Request, version: str, phone_number_id: str) -> HTTPResponse:
    """Meta's `POST /{version}/{phone_number_id}/messages`."""
    ctx = request.app.ctx
    config: Config = ctx.config
    recorder: Recorder = ctx.recorder
    raw = request.body
    body = loads(raw)
    to = digits(body.get("to")) if isinstance(body, dict) else None
    auth = request.headers.get("authorization", "")
    if not hmac.compare_digest(auth.encode(), f"Bearer {config.access_token}".encode()):
        answer = error_body(190, "Invalid OAuth access token - Cannot parse access token")
        return _rejected(recorder, to, raw, 401, answer)
    if phone_number_id != config.phone_number_id or not _VERSION.fullmatch(version):
        message = (
            f"Unsupported post request. Object with ID '{phone_number_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation."
        )
        answer = error_body(100, message, type_="GraphMethodException", error_subcode=33)
        return _rejected(recorder, to, raw, 400, answer)
    if isinstance(body, dict) and "status" in body:  # mark read, not a send
        return meta_media.mark_read(request, body)
    problem = check_message(body)
    if problem:
        return _rejected(recorder, to, raw, 400, invalid(problem))

    scenario: Scenario = ctx.scenarios.get(to) or ctx.scenarios.get("*") or NORMAL
    step = scenario.next_step()
    accepted = not step.get("disconnect") and step.get("status", 200) < 300
    if accepted:  # Meta takes the message as it arrives, whether or not the answer gets back
        assert to is not None  # check_message accepted it
        wamid = _new_wamid()
        callback_data = body.get("biz_opaque_callback_data")
        recorder.record(to, raw, wamid, 200, callback_data)
        _schedule_statuses(ctx.outbox, config, scenario, wamid, to, callback_data)
    if step.get("delay_ms"):  # a slow answer (the client may give up or die meanwhile)
        await asyncio.sleep(step["delay_ms"] / 1000)
    if step.get("disconnect"):
        recorder.record(to, raw, None, None)
        request.transport.abort()  # the client sees the connection drop, no answer
        return HTTPResponse(status=204)
    if not accepted:
        return _rejected(recorder, to, raw, *step_error(step))
    return json(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": to}],
            "messages": [{"id": wamid, "message_status": "accepted"}],
        }
    )


async def set_scenario(request: Request) -> HTTPResponse:
    """Replace the scenario of one recipient, or of `*` (every recipient without one)."""
    body = loads(request.body)
    try:
        to, scenario = parse_scenario(body)
    except ValueError as exc:
        return json({"error": str(exc)}, status=400)
    request.app.ctx.scenarios[to] = scenario
    return json({"to": to, "responses": len(scenario.responses)})


async def inbound(request: Request) -> HTTPResponse:
    """Send one signed inbound webhook now; answer once the service has answered it."""
    outbox: Outbox = request.app.ctx.outbox
    body = loads(request.body)
    if not outbox.url:
        return json({"error": "SIM_WEBHOOK_URL is not set"}, status=409)
    if not isinstance(body, dict):
        return json({"error": "body must be a JSON object"}, status=400)
    if isinstance(body.get("raw"), dict):
        payload = body["raw"]
    elif isinstance(body.get("value"), dict):
        payload = outbox.value_envelope(body["value"])
    elif isinstance(body.get("from"), str) and isinstance(body.get("text"), str):
        payload = outbox.value_envelope(_text_message(body))
    else:
        return json({"error": "give {from, text[, name, id]}, {value} or {raw}"}, status=400)
    request.app.ctx.media.inbound.update(_wamids(payload))  # for mark-read calls
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


async def messages(request: Request) -> HTTPResponse:
    """The send calls received, oldest first: all, or one recipient's (`?to=`)."""
    to = request.args.get("to")
    limit = _int_arg(request, "limit", 1000)
    calls = request.app.ctx.recorder.calls(digits(to) if to else None, limit)
    return json({"messages": calls})


async def stats(request: Request) -> HTTPResponse:
    """Counters since start or the last reset."""
    outbox: Outbox = request.app.ctx.outbox
    counts = request.app.ctx.recorder.stats()
    w = outbox.stats
    return json(
        {
            **counts,
            "webhooks_sent": w.webhooks_sent,
            "statuses_sent": w.statuses_sent,
            "webhook_failures": w.webhook_failures,
            "statuses_pending": outbox.pending,
        }
    )


async def reset(request: Request) -> HTTPResponse:
    """Forget scenarios, recorded calls, scheduled webhooks and counters."""
    ctx = request.app.ctx
    ctx.scenarios.clear()
    ctx.recorder.reset()
    ctx.outbox.reset()
    meta_media.reset(request.app)
    return json({"reset": True})


def _rejected(
    recorder: Recorder, to: str | None, raw: bytes, status: int, answer: dict[str, Any]
) -> HTTPResponse:
    recorder.record(to, raw, None, status)
    return json(answer, status=status)


def _schedule_statuses(
    outbox: Outbox, config: Config, scenario: Scenario, wamid: str, to: str, callback_data: Any
) -> None:
    delay_s = config.status_delay_ms / 1000
    copies = 2 if scenario.duplicate_webhooks else 1
    now = time.time()
    for i, spec in enumerate(scenario.statuses, 1):
        due = now + i * delay_s
        outbox.schedule(due, status_object(wamid, spec, to, due, callback_data), copies)


def _text_message(body: dict[str, Any]) -> dict[str, Any]:
    sender = digits(body["from"]) or body["from"]
    message: dict[str, Any] = {
        "from": sender,
        "id": body.get("id") or _new_wamid(),
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": body["text"]},
    }
    if isinstance(body.get("reply_to"), str):
        message["context"] = {"from": DISPLAY_PHONE_NUMBER, "id": body["reply_to"]}
    name = body.get("name") or sender
    return {"contacts": [{"profile": {"name": name}, "wa_id": sender}], "messages": [message]}


def _new_wamid() -> str:
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


def _int_arg(request: Request, name: str, default: int) -> int:
    try:
        return max(int(request.args.get(name, default)), 0)
    except ValueError:
        return default


def main() -> None:
    config = Config.from_env()
    run(create_app(config), config.host, config.port, "meta simulator")


if __name__ == "__main__":
    main()
