"""`python -m simulator.meta`: plays Meta's WhatsApp Cloud API for dev runs, tests and benchmarks.

It accepts send calls like Meta (token, phone number id, body checks), answers with a wamid,
then sends signed status webhooks to `SIM_WEBHOOK_URL`, from the number the message went
from. Every number of `WHATSAPP_PHONE_NUMBER_ID` (comma-separated) exists; a number's token is
`WHATSAPP_ACCESS_TOKEN_<id>` if set, else `WHATSAPP_ACCESS_TOKEN`. Faults are injected per
recipient through `/_sim/scenarios`; `/_sim/messages` and `/_sim/stats` show what it received.

A send names its user by `to` (a phone number), `recipient` (a business-scoped user id) or
both, `to` winning as at Meta. A send by BSUID alone is answered with `contacts[0].user_id`
and no `wa_id`, its statuses carry `recipient_user_id` and no `recipient_id`, and an
AUTHENTICATION template is refused with 131062. `/{phone_number_id}/marketing_messages` (the
Marketing Messages API) takes the same body and answer; `/_sim/messages` names each call's
`endpoint`. Marketing consent (`/_sim/preferences`, 131050): `simulator.meta_marketing`.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
from dataclasses import dataclass, field
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json

from simulator import meta_inbound, meta_marketing, meta_media, meta_templates
from simulator.meta_checks import check_message, error_body, invalid
from simulator.meta_inbound import new_wamid
from simulator.meta_pricing import pricing_for
from simulator.meta_webhooks import Outbox, status_object
from simulator.meta_windows import OUTSIDE_WINDOW, Windows
from simulator.recorder import Recorder, digits, recipient_key
from simulator.scenarios import NORMAL, Scenario, parse_scenario, step_error
from simulator.serve import env_int, env_str, loads, new_app, run
from whatsapp.recipients import is_user_id

_VERSION = re.compile(r"v[0-9]+\.[0-9]+")


@dataclass(frozen=True)
class Config:
    host: str
    port: int
    access_token: str
    app_secret: str
    phone_number_ids: tuple[str, ...]
    webhook_url: str
    status_delay_ms: int
    batch_ms: int
    tokens: dict[str, str] = field(default_factory=dict)  # a number's own token
    service_window: bool = False  # free-form sends outside the 24 h window fail (131047)

    @classmethod
    def from_env(cls) -> Config:
        """Read the environment once; a missing credential stops the process."""
        numbers = env_str("WHATSAPP_PHONE_NUMBER_ID", required=True)
        ids = tuple(n.strip() for n in numbers.split(",") if n.strip())
        return cls(
            host=env_str("SIM_HOST", "127.0.0.1"),
            port=env_int("SIM_PORT", 8025),
            access_token=env_str("WHATSAPP_ACCESS_TOKEN", required=True),
            app_secret=env_str("WHATSAPP_APP_SECRET", required=True),
            phone_number_ids=ids,
            webhook_url=env_str("SIM_WEBHOOK_URL"),
            status_delay_ms=env_int("SIM_STATUS_DELAY_MS", 50),
            batch_ms=env_int("SIM_BATCH_MS", 20),
            tokens={n: t for n in ids if (t := env_str(f"WHATSAPP_ACCESS_TOKEN_{n}"))},
            service_window=env_str("SIM_SERVICE_WINDOW", "false").lower() in ("1", "true"),
        )

    @property
    def phone_number_id(self) -> str:
        """The default number: inbound messages that name none are sent to it."""
        return self.phone_number_ids[0]

    def authorized(self, header: str, number: str | None = None) -> bool:
        """The bearer token of `number` (its own, else the shared one); any, without one."""
        numbers = [number] if number else list(self.phone_number_ids)
        tokens = {self.tokens.get(n, self.access_token) for n in numbers}
        return any(hmac.compare_digest(header.encode(), f"Bearer {t}".encode()) for t in tokens)


def create_app(config: Config | None = None, name: str = "meta-simulator") -> Sanic:
    """The simulator app; its webhook client opens in `before_server_start`."""
    config = config or Config.from_env()
    app = new_app(name)
    app.ctx.config = config
    app.ctx.recorder = Recorder()
    app.ctx.scenarios = {}
    app.ctx.windows = Windows()

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
    app.add_route(
        send,
        "/<version:str>/<phone_number_id:str>/marketing_messages",
        methods=["POST"],
        name="marketing_messages",
    )
    app.add_route(set_scenario, "/_sim/scenarios", methods=["POST"])
    app.add_route(meta_inbound.inbound, "/_sim/inbound", methods=["POST"])
    app.add_route(messages, "/_sim/messages", methods=["GET"])
    app.add_route(stats, "/_sim/stats", methods=["GET"])
    app.add_route(reset, "/_sim/reset", methods=["POST"])
    meta_media.register(app)
    meta_templates.register(app)
    meta_marketing.register(app)
    return app


async def send(request: Request, version: str, phone_number_id: str) -> HTTPResponse:
    """Meta's `POST /{version}/{phone_number_id}/messages` (and `/marketing_messages`)."""
    ctx = request.app.ctx
    config: Config = ctx.config
    recorder: Recorder = ctx.recorder
    raw = request.body
    body = loads(raw)
    to = _addressee(body)  # the phone's digits, or the BSUID of a send by `recipient` alone
    known = phone_number_id in config.phone_number_ids
    auth = request.headers.get("authorization", "")
    if not config.authorized(auth, phone_number_id if known else None):
        answer = error_body(190, "Invalid OAuth access token - Cannot parse access token")
        return _rejected(recorder, to, raw, 401, answer)
    if not known or not _VERSION.fullmatch(version):
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
    assert to is not None  # check_message accepted it
    if is_user_id(to) and meta_templates.needs_phone_number(request.app, body):
        return _rejected(recorder, to, raw, 400, _USER_ID_UNSUPPORTED)

    scenario: Scenario = ctx.scenarios.get(to) or ctx.scenarios.get("*") or NORMAL
    step = scenario.next_step()
    accepted = not step.get("disconnect") and step.get("status", 200) < 300
    if accepted:  # Meta takes the message as it arrives, whether or not the answer gets back
        wamid = new_wamid()
        callback_data = body.get("biz_opaque_callback_data")
        endpoint = request.path.rsplit("/", 1)[-1]
        recorder.record(to, raw, wamid, 200, callback_data, phone_number_id, endpoint)
        statuses = scenario.statuses
        if config.service_window and body.get("type") != "template":
            if not ctx.windows.is_open(phone_number_id, to):
                statuses = [{"status": "sent"}, OUTSIDE_WINDOW]  # Meta accepts, then fails it
        if ctx.consent.has_stopped(phone_number_id, to) and meta_marketing.is_marketing(
            request.app, body
        ):
            statuses = [meta_marketing.MARKETING_STOPPED]  # accepted, then failed: 131050
        user_id = body.get("recipient")
        pricing = pricing_for(request.app, body, phone_number_id, to)
        _schedule_statuses(
            ctx, scenario, statuses, wamid, to, user_id, callback_data, phone_number_id, pricing
        )
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
            "contacts": [_contact(body, to)],
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


async def messages(request: Request) -> HTTPResponse:
    """The send calls received, oldest first: all, or one recipient's (`?to=`)."""
    to = request.args.get("to")
    limit = _int_arg(request, "limit", 1000)
    calls = request.app.ctx.recorder.calls(recipient_key(to) if to else None, limit)
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
    ctx.windows.reset()
    ctx.consent.reset()
    ctx.recorder.reset()
    ctx.outbox.reset()
    meta_media.reset(request.app)
    return json({"reset": True})


def _rejected(
    recorder: Recorder, to: str | None, raw: bytes, status: int, answer: dict[str, Any]
) -> HTTPResponse:
    recorder.record(to, raw, None, status)
    return json(answer, status=status)


def _addressee(body: Any) -> str | None:
    """Whom a send goes to: `to` wins over `recipient`, as at Meta."""
    if not isinstance(body, dict):
        return None
    if body.get("to") is not None:
        return digits(body["to"])
    return recipient_key(body.get("recipient"))


def _contact(body: dict[str, Any], to: str) -> dict[str, Any]:
    """The send answer's `contacts[0]`: `wa_id` on the phone path (also when `recipient` was
    given beside `to`), `user_id` for a send by BSUID alone."""
    if is_user_id(to):
        return {"input": to, "user_id": to}
    return {"input": body["to"], "wa_id": to}


_USER_ID_UNSUPPORTED = error_body(
    131062,
    "(#131062) Business-scoped User ID recipients are not supported for this message",
    "Authentication templates cannot be sent to a business-scoped user ID; send to the "
    "user's phone number.",
)


def _schedule_statuses(
    ctx: Any,
    scenario: Scenario,
    statuses: list[dict[str, Any]],
    wamid: str,
    to: str,
    user_id: Any,
    callback_data: Any,
    number: str,
    pricing: dict[str, Any],
) -> None:
    delay_s = ctx.config.status_delay_ms / 1000
    copies = 2 if scenario.duplicate_webhooks else 1
    now = time.time()
    for i, spec in enumerate(statuses, 1):
        due = now + i * delay_s
        status = status_object(wamid, spec, to, due, callback_data, pricing)
        if is_user_id(to):  # Meta names a BSUID-only user by BSUID alone
            del status["recipient_id"]
        if isinstance(user_id, str):
            status["recipient_user_id"] = user_id
        ctx.outbox.schedule(due, status, copies, number)


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
