"""`python -m simulator.hub`: plays the Hub receiving our events, for dev runs and tests.

Every POST to `/events` is verified per Standard Webhooks with the `standardwebhooks`
package, as the Hub does; what verifies is kept (first delivery per `webhook-id`) and, in dev,
printed as one readable line. `/_sink/fail` makes the next POSTs fail on purpose.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson
from sanic import Request, Sanic
from sanic.response import HTTPResponse, empty, json
from standardwebhooks import Webhook

from simulator.serve import env_int, env_str, loads, new_app, run

MAX_EVENTS = 100_000
_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


@dataclass(frozen=True)
class Config:
    host: str
    port: int
    secret: str
    print_events: bool

    @classmethod
    def from_env(cls) -> Config:
        """Read the environment once; a missing secret stops the process."""
        return cls(
            host=env_str("HUB_SINK_HOST", "127.0.0.1"),
            port=env_int("HUB_SINK_PORT", 8026),
            secret=env_str("HUB_WEBHOOK_SECRET", required=True),
            print_events=env_str("HUB_SINK_PRINT", "1") != "0",
        )


class Sink:
    """Verified events (first delivery of each id), counters and the failures still owed."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget events, counters and pending failures."""
        self.events: deque[dict[str, Any]] = deque(maxlen=MAX_EVENTS)
        self.deliveries: dict[str, int] = {}
        self.duplicate_ids: list[str] = []  # ids delivered more than once, first 100
        self.received = self.duplicates = self.rejected = self.failed_on_purpose = 0
        self.fail_count = 0
        self.fail_until = 0.0  # monotonic: every POST before it fails (an outage)
        self.fail_status = 500
        self.fail_retry_after: str | None = None

    def keep(self, webhook_id: str, event: Any) -> bool:
        """Record one verified delivery; False when the id was delivered before."""
        self.received += 1
        seen = self.deliveries.get(webhook_id, 0)
        self.deliveries[webhook_id] = seen + 1
        if seen:
            self.duplicates += 1
            if seen == 1 and len(self.duplicate_ids) < 100:
                self.duplicate_ids.append(webhook_id)
            return False
        self.events.append({"webhook_id": webhook_id, "event": event, "received_at": time.time()})
        return True


def create_app(config: Config | None = None, name: str = "hub-sink") -> Sanic:
    """The sink app; all state is in memory on `app.ctx`."""
    config = config or Config.from_env()
    app = new_app(name)
    app.ctx.config = config
    app.ctx.webhook = Webhook(config.secret)
    app.ctx.sink = Sink()
    app.add_route(receive, "/events", methods=["POST"])
    app.add_route(fail, "/_sink/fail", methods=["POST"])
    app.add_route(events, "/_sink/events", methods=["GET"])
    app.add_route(stats, "/_sink/stats", methods=["GET"])
    app.add_route(reset, "/_sink/reset", methods=["POST"])
    return app


async def receive(request: Request) -> HTTPResponse:
    """The Hub's event endpoint (HUB_WEBHOOK_URL)."""
    ctx = request.app.ctx
    sink: Sink = ctx.sink
    if sink.fail_count > 0 or time.monotonic() < sink.fail_until:
        sink.fail_count = max(sink.fail_count - 1, 0)
        sink.failed_on_purpose += 1
        headers = {"Retry-After": sink.fail_retry_after} if sink.fail_retry_after else None
        return json({"error": "failing on purpose"}, status=sink.fail_status, headers=headers)
    headers = {h: request.headers.get(h, "") for h in _HEADERS}
    try:
        ctx.webhook.verify(request.body, headers, json_parse=False)
        event = orjson.loads(request.body)
    except Exception as exc:  # standardwebhooks raises several types on malformed input
        sink.rejected += 1
        return json({"error": f"verification failed: {exc}"}, status=400)
    first = sink.keep(headers["webhook-id"], event)
    if ctx.config.print_events:
        print(_describe(event, first), flush=True)
    return empty()


async def fail(request: Request) -> HTTPResponse:
    """Make the next `count` POSTs to /events, or all for `for_s` seconds, answer `status`
    (and `Retry-After`)."""
    body = loads(request.body) if request.body else {}
    if not isinstance(body, dict):
        return json({"error": "body must be a JSON object"}, status=400)
    try:
        for_s = float(body.get("for_s", 0))
        count = int(body.get("count", 0 if for_s else 1))
        status = int(body.get("status", 500))
    except (TypeError, ValueError):
        return json({"error": "count and status must be integers, for_s a number"}, status=400)
    sink: Sink = request.app.ctx.sink
    retry_after = body.get("retry_after")
    sink.fail_count = max(count, 0)
    sink.fail_until = time.monotonic() + max(for_s, 0)
    sink.fail_status = status
    sink.fail_retry_after = None if retry_after is None else str(retry_after)
    return json({"count": sink.fail_count, "for_s": for_s, "status": status})


async def events(request: Request) -> HTTPResponse:
    """Verified events, oldest first, filtered by `message_id`, `type` and `wamid`."""
    message_id = request.args.get("message_id")
    type_ = request.args.get("type")
    wamid = request.args.get("wamid")
    picked = []
    for e in request.app.ctx.sink.events:
        event = e["event"]
        data = event.get("data") if isinstance(event, dict) else None
        data = data if isinstance(data, dict) else {}
        if message_id and data.get("message_id") != message_id:
            continue
        if type_ and event.get("type") != type_:
            continue
        if wamid and data.get("wamid") != wamid:
            continue
        picked.append(e)
    return json({"events": picked})


async def stats(request: Request) -> HTTPResponse:
    """Counters since start or the last reset."""
    sink: Sink = request.app.ctx.sink
    return json(
        {
            "received": sink.received,
            "unique": len(sink.deliveries),
            "duplicates": sink.duplicates,
            "rejected": sink.rejected,
            "failed_on_purpose": sink.failed_on_purpose,
            "duplicate_ids": sink.duplicate_ids[:100],
        }
    )


async def reset(request: Request) -> HTTPResponse:
    """Forget events, counters and pending failures."""
    request.app.ctx.sink.reset()
    return json({"reset": True})


def _describe(event: Any, first: bool) -> str:
    """One readable line per event, e.g. `hub <- message.status sent message=... wamid=...`."""
    if not isinstance(event, dict):
        return f"hub <- {event!r}"
    prefix = "hub <- " if first else "hub <- (duplicate) "
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    type_ = event.get("type")
    if type_ == "message.status":
        line = (
            f"{type_} {data.get('status')} message={data.get('message_id')} "
            f"wamid={data.get('wamid')} to={data.get('recipient')}"
        )
        error = data.get("error")
        if isinstance(error, dict):
            line += f" error={error.get('code')} {error.get('title')!r}"
        return prefix + line
    if type_ == "message.received":
        kind = data.get("type")
        line = f"{type_} {kind} from={data.get('from')} wamid={data.get('wamid')}"
        content = data.get(kind) if isinstance(kind, str) else None
        if kind == "text" and isinstance(content, dict):
            line += " " + orjson.dumps(content.get("body")).decode()
        return prefix + line
    return prefix + f"{type_} id={event.get('id')}"


def main() -> None:
    config = Config.from_env()
    run(create_app(config), config.host, config.port, "hub sink")


if __name__ == "__main__":
    main()
