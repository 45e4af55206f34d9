"""The worker's settings (`python -m consumers`): what only the worker reads. Part of
`Settings`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core import casts
from core.env import per_number, variable


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    hub_webhook_url: str = variable(
        "HUB_WEBHOOK_URL",
        casts.url("http", "https"),
        help="where Hub events are POSTed",
        read_by=("worker",),
    )
    hub_webhook_secret: str = variable(
        "HUB_WEBHOOK_SECRET",
        casts.whsec,
        help="Standard Webhooks signing secret (whsec_...)",
        secret=True,
        read_by=("worker",),
    )
    template_sync_s: float = variable(
        "TEMPLATE_SYNC_S",
        casts.float_in(1, 86400),
        default="600",
        help="how often the worker syncs the template catalog from Meta (also at start and on "
        "each template status webhook)",
    )
    worker_metrics_port: int = variable(
        "WORKER_METRICS_PORT",
        casts.int_in(0, 65535),
        default="0",
        help="port of the worker's own /metrics (needs a HEALTH_CHECK_TOKENS token; see "
        "Metrics); 0: off",
    )
    stream_batch_size: int = variable(
        "STREAM_BATCH_SIZE",
        casts.int_in(1, 1000),
        default="100",
        help="entries read per XREADGROUP",
    )
    stream_block_ms: int = variable(
        "STREAM_BLOCK_MS",
        casts.int_in(10, 60000),
        default="1000",
        help="how long an idle consumer blocks on XREADGROUP",
    )
    stream_idle_timeout_s: float = variable(
        "STREAM_IDLE_TIMEOUT_S",
        casts.float_in(0.1, 86400),
        default="60",
        help="pending entries idle this long are reclaimed by another consumer, and claimed "
        "messages whose Meta call never started are queued again",
    )
    stream_max_deliveries: int = variable(
        "STREAM_MAX_DELIVERIES",
        casts.int_in(1, 100),
        default="5",
        help="deliveries of one entry before it is dead-lettered",
    )
    stream_batches_in_flight: int = variable(
        "STREAM_BATCHES_IN_FLIGHT",
        casts.int_in(1, 64),
        default="4",
        help="batches one consumer works on at once (keeps the Meta pipe full)",
    )
    send_concurrency: int = variable(
        "SEND_CONCURRENCY",
        casts.int_in(1, 2000),
        default="256",
        help="Meta calls in flight per business number, and Hub calls, per worker process "
        "(rate x Meta latency needs room)",
    )
    send_rate_per_s: float = variable(
        "SEND_RATE_PER_S",
        casts.float_in(0.1, 1000),
        default="80",
        help="messages per second to Meta per business number, across all sender replicas",
    )
    send_max_attempts: int = variable(
        "SEND_MAX_ATTEMPTS",
        casts.int_in(1, 50),
        default="8",
        help="Meta calls per message before it fails (throttling answers do not count)",
    )
    send_pause_s: float = variable(
        "SEND_PAUSE_S",
        casts.float_in(0.1, 86400),
        default="300",
        help="sending pauses this long after Meta's 131048 (spam limit), 190 (token), "
        "368 (blocked) or 131031 (account locked)",
    )
    pair_rate_limit_s: float = variable(
        "PAIR_RATE_LIMIT_S",
        casts.float_in(0.01, 3600),
        default="6",
        help="a recipient's messages wait this long after Meta's pair rate limit (131056)",
    )
    marketing_messages_api: bool = variable(
        "MARKETING_MESSAGES_API",
        casts.boolean,
        default="false",
        help="send MARKETING templates (category known from the catalog at accept) through "
        "Meta's Marketing Messages API, /{phone_number_id}/marketing_messages; the rest "
        "through /messages",
    )
    hub_retry_schedule_s: tuple[float, ...] = variable(
        "HUB_RETRY_SCHEDULE_S",
        casts.delays,
        default="5,300,1800,7200,18000,36000,50400,72000,86400",
        help="waits between Hub delivery attempts (Standard Webhooks schedule; +-10% jitter)",
    )
    hub_gone_pause_s: float = variable(
        "HUB_GONE_PAUSE_S",
        casts.float_in(0.1, 86400),
        default="3600",
        help="Hub deliveries stop this long after the Hub answers 410 Gone",
    )
    retry_poll_s: float = variable(
        "RETRY_POLL_S",
        casts.float_in(0.01, 60),
        default="0.5",
        help="how often parked messages and Hub events are checked for their next attempt",
    )
    retry_initial_s: float = variable(
        "RETRY_INITIAL_S",
        casts.float_in(0.001, 60),
        default="0.5",
        help="first wait before a message is retried (doubles, with jitter)",
    )
    retry_max_s: float = variable(
        "RETRY_MAX_S",
        casts.float_in(0.001, 3600),
        default="60",
        help="cap of one message retry wait",
    )
    sweep_interval_s: float = variable(
        "SWEEP_INTERVAL_S",
        casts.float_in(0.1, 3600),
        default="30",
        help="how often stale queued messages and unpublished Hub events are re-published",
    )
    send_outcome_timeout_s: float = variable(
        "SEND_OUTCOME_TIMEOUT_S",
        casts.float_in(1, 86400),
        default="600",
        help="a message `sending` this long with no answer or status ends failed",
    )
    status_hold_s: float = variable(
        "STATUS_HOLD_S",
        casts.float_in(0, 3600),
        default="30",
        help="a status for a wamid we do not know is matched again this long (the sender's "
        "write may be late), then kept as foreign",
    )
    sweep_stale_s: float = variable(
        "SWEEP_STALE_S",
        casts.float_in(0.1, 86400),
        default="120",
        help="age after which an unpublished row counts as stale",
    )
    retention_days: int = variable(
        "RETENTION_DAYS",
        casts.off_or_in(7, 36500),
        default="0",
        help="message bodies, raw webhook payloads and delivered Hub events older than this "
        "many days are purged (docs/operations.md, Retention); at least 7, Meta's webhook "
        "retry window; 0: kept forever",
    )
    retention_batch_rows: int = variable(
        "RETENTION_BATCH_ROWS",
        casts.int_in(10, 10000),
        default="1000",
        help="rows purged per statement",
    )
    retention_pause_ms: int = variable(
        "RETENTION_PAUSE_MS",
        casts.int_in(0, 60000),
        default="100",
        help="pause between two purge statements, so sends and webhooks keep their latency",
    )
    send_rates_per_s: Mapping[str, float] = per_number(
        "SEND_RATE_PER_S",
        casts.float_in(0.1, 1000),
        help="that number's messages per second to Meta (its tier), instead of SEND_RATE_PER_S",
    )
