"""The worker's Prometheus series, and the small server that exposes them.

Every series the worker records is defined here; the consumers increment them in one line
each, with no policy of their own. The worker serves `GET /metrics` on WORKER_METRICS_PORT
(0: off) from its own event loop, with the web's token check (HEALTH_CHECK_TOKENS). It pulls
rather than pushes through Redis: each replica is one scrape target, counters reset with the
process the way Prometheus expects, and a Redis outage does not blind the metrics that
would explain it. Stream backlogs and dead letters are global, so the web reports them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

from aiohttp import web
from prometheus_client import Counter, Histogram

from core import exposition
from core.names import FAILED, HUB_PENDING
from core.tokens import health_token_ok
from whatsapp.notifications import INVALID_BODY

logger = logging.getLogger("consumers.worker_metrics")
T = TypeVar("T")
_TOKENS = web.AppKey("health_check_tokens", tuple)

MESSAGE_STATUSES = Counter(
    "messaging_message_statuses",
    "Statuses messages reached (sent, delivered, read, failed), once per message and status",
    ["status", "source"],
)
BILLABLE_MESSAGES = Counter(
    "messaging_billable_messages",
    "Messages Meta priced as billable, by pricing category and business number; once per "
    "message, when its first status with pricing is stored",
    ["category", "phone_number_id"],
)
MESSAGES_FAILED = Counter(
    "messaging_messages_failed",
    "Messages that ended failed, by error code (Meta's, or outcome_unknown)",
    ["code"],
)
META_ERRORS = Counter(
    "messaging_meta_errors",
    "Meta's error answers to send calls, by code and how they were handled",
    ["code", "kind"],
)
META_SECONDS = Histogram(
    "messaging_meta_request_seconds", "Duration of one send call to Meta, answered or not"
)
MESSAGES_PARKED = Counter(
    "messaging_messages_parked",
    "Messages put back to queued for later (reason retry: a retryable error; a retry)",
    ["reason"],
)
RATE_LIMIT_WAIT = Counter(
    "messaging_rate_limit_wait_seconds",
    "Seconds sends waited for their rate-limiter slot, summed over messages",
)
RATE_LIMIT_FULL = Counter(
    "messaging_rate_limit_full", "Times the sender found no send slot free and slept"
)
SEND_PAUSES = Counter(
    "messaging_send_pauses", "Sending pauses started by Meta's answers, by code", ["code"]
)
WEBHOOK_EVENTS = Counter(
    "messaging_webhook_events",
    "Items of Meta's webhooks processed: statuses, inbound messages, other fields, malformed",
    ["kind", "type"],
)
FOREIGN_STATUSES = Counter(
    "messaging_foreign_statuses",
    "Statuses for a wamid of no message of ours, kept as foreign once their hold ran out",
    ["status"],
)
HUB_DELIVERIES = Counter(
    "messaging_hub_deliveries",
    "POSTs of events to the Hub by outcome (delivered, retry, dead)",
    ["outcome"],
)
HUB_SECONDS = Histogram("messaging_hub_delivery_seconds", "Duration of one POST to the Hub")
STREAM_ENTRIES = Counter(
    "messaging_stream_entries",
    "Stream entries a consumer finished: acked, or dead_lettered",
    ["consumer", "result"],
)


async def timed(histogram: Histogram, call: Awaitable[T]) -> T:
    """Await `call`, observing how long it took (answered or not)."""
    with histogram.time():
        return await call


def count_statuses(applied: Iterable[Any]) -> None:
    """Status changes that were stored (duplicates and backward moves never are)."""
    for change in applied:
        MESSAGE_STATUSES.labels(change.status, change.source).inc()
        if change.status == FAILED:
            MESSAGES_FAILED.labels(str((change.error or {}).get("code"))).inc()


def count_billable(priced: Iterable[Any]) -> None:
    """Messages whose pricing was just set (`db.statuses.record_pricing`); the free ones are
    not counted."""
    for p in priced:
        if p.billable:
            BILLABLE_MESSAGES.labels(p.category or "unknown", p.phone_number_id).inc()


def count_webhook(parsed: Iterable[Any]) -> None:
    """Items of Meta's POSTs by kind and type, as received (Meta's retries included); a body
    that could not be used at all is one `malformed`."""
    for n in parsed:
        for s in n.statuses:
            WEBHOOK_EVENTS.labels("status", s.status).inc()
        for m in n.messages:
            WEBHOOK_EVENTS.labels("message", m.type).inc()
        for o in n.others:
            if o.field == INVALID_BODY:
                WEBHOOK_EVENTS.labels("malformed", "").inc()
            else:
                WEBHOOK_EVENTS.labels("change", o.field).inc()


def count_meta_error(exc: Any) -> None:
    """`kind` is the error's class: rejected, unavailable, throttled, pairlimited, paused,
    outcomeunknown (see whatsapp/errors.py)."""
    META_ERRORS.labels(str(exc.code), type(exc).__name__.removeprefix("Meta").lower()).inc()


def count_rate_limit_full(wait_s: float, messages: int) -> None:
    RATE_LIMIT_FULL.inc()
    RATE_LIMIT_WAIT.inc(wait_s * messages)


def count_hub_delivery(outcome: str, seconds: float) -> None:
    HUB_DELIVERIES.labels("retry" if outcome == HUB_PENDING else outcome).inc()
    HUB_SECONDS.observe(seconds)


async def start_server(settings: Any) -> web.AppRunner | None:
    """Serve /metrics on WORKER_METRICS_PORT; a port in use costs the metrics, not the sends."""
    if not settings.worker_metrics_port:
        return None
    app = web.Application()
    app[_TOKENS] = settings.health_check_tokens
    app.router.add_get("/metrics", _metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, port=settings.worker_metrics_port).start()
    except OSError as exc:
        logger.error("metrics not served: port %d (%s)", settings.worker_metrics_port, exc)
        await runner.cleanup()
        return None
    logger.info("metrics served on port %d at /metrics", settings.worker_metrics_port)
    return runner


async def stop_server(runner: web.AppRunner | None) -> None:
    if runner is not None:
        await runner.cleanup()


async def _metrics(request: web.Request) -> web.Response:
    if not health_token_ok(request.headers, request.query, request.app[_TOKENS]):
        error = {"code": "unauthorized", "message": "a valid health check token is required"}
        return web.json_response({"error": error}, status=401)
    return web.Response(
        body=exposition.render(), headers={"Content-Type": exposition.CONTENT_TYPE_LATEST}
    )
