"""One typed settings object for every process, read once from the environment.

Each variable has a cast, a default (or none: required) and a help string. A missing or
malformed variable raises `SettingsError` naming it; entry points print that one line and exit.
Secrets are excluded from `repr()` so a logged settings object never leaks them.

A per-number variable (`SEND_RATE_PER_S_<phone_number_id>`) overrides its base variable for
one business number of WHATSAPP_PHONE_NUMBER_ID; one naming another number is an error.
"""

from __future__ import annotations

import base64
import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from core.numbers import Numbers

__all__ = ["Settings", "SettingsError"]


class SettingsError(Exception):
    """A required environment variable is missing or malformed."""


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty")
    return value.strip()


def _url(*schemes: str) -> Callable[[str], str]:
    def cast(value: str) -> str:
        value = value.strip()
        if not any(value.startswith(f"{s}://") for s in schemes):
            raise ValueError(f"must start with {' or '.join(s + '://' for s in schemes)}")
        return value

    return cast


def _http_base(value: str) -> str:
    return _url("http", "https")(value).rstrip("/")


def _csv(value: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if not items:
        raise ValueError("has no values")
    return items


def _optional_csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


# A DNS name or IPv4 address (letters, digits, dots, dashes), or an IPv6 address in brackets.
_HOST_NAME = r"(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])"
_PUBLIC_HOST = re.compile(rf"{_HOST_NAME}(?::[0-9]{{1,5}})?")
_ALLOWED_HOST = re.compile(rf"\*|\.?{_HOST_NAME}")


def _public_host(value: str) -> str:
    host = value.strip().lower()
    if host and not _PUBLIC_HOST.fullmatch(host):
        raise ValueError("must be a host name with an optional port, like api.example.com")
    return host


def _allowed_hosts(value: str) -> tuple[str, ...]:
    hosts = tuple(h.lower().rstrip(".") for h in _optional_csv(value))
    if not all(_ALLOWED_HOST.fullmatch(h) for h in hosts):
        raise ValueError(
            "must be host names without scheme or port, like api.example.com, .example.com "
            "(the domain and its subdomains) or *"
        )
    return hosts


def _numbers(value: str) -> tuple[str, ...]:
    numbers = _csv(value)
    if not all(n.isdigit() for n in numbers):
        raise ValueError("must be digits only, comma-separated")
    if len(set(numbers)) != len(numbers):
        raise ValueError("names a number twice")
    return numbers


def _digits(value: str) -> str:
    if not value.strip().isdigit():
        raise ValueError("must be digits only")
    return value.strip()


def _optional_digits(value: str) -> str:
    return _digits(value) if value.strip() else ""


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def cast(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError("must be a whole number") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return cast


def _float_in(low: float, high: float) -> Callable[[str], float]:
    def cast(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise ValueError("must be a number") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return cast


def _optional_seconds(low: float, high: float) -> Callable[[str], float | None]:
    def cast(value: str) -> float | None:
        return _float_in(low, high)(value) if value.strip() else None

    return cast


def _delays(value: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(v) for v in _csv(value))
    except ValueError:
        raise ValueError("must be comma-separated seconds, like 5,300,1800") from None
    if any(not 0 <= d <= 7 * 86400 for d in delays):
        raise ValueError("each delay must be between 0 and 604800 seconds")
    return delays


def _whsec(value: str) -> str:
    # Standard Webhooks secrets are "whsec_" + base64 of 24-64 random bytes.
    value = value.strip()
    raw = value.removeprefix("whsec_")
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        raise ValueError("must be whsec_ followed by base64") from None
    if not value.startswith("whsec_") or len(key) < 16:
        raise ValueError("must be whsec_ followed by base64 of at least 16 bytes")
    return value


def _version(value: str) -> str:
    if not re.fullmatch(r"v\d+\.\d+", value.strip()):
        raise ValueError("must look like v26.0")
    return value.strip()


def _bool(value: str) -> bool:
    text = value.strip().lower()
    if text not in {"true", "false", "1", "0", "yes", "no"}:
        raise ValueError("must be true or false")
    return text in {"true", "1", "yes"}


def _level(value: str) -> str:
    level = value.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return level


def _env(
    name: str,
    cast: Callable[[str], Any] = _text,
    default: str | None = None,
    help: str = "",
    secret: bool = False,
) -> Any:
    return field(
        repr=not secret,
        metadata={"env": name, "cast": cast, "default": default, "help": help, "secret": secret},
    )


def _per_number(base: str, cast: Callable[[str], Any], help: str, secret: bool = False) -> Any:
    """`{phone_number_id: value}` from `<base>_<phone_number_id>` variables (none: {})."""
    meta = {"env": f"{base}_<phone_number_id>", "cast": cast, "default": "", "help": help}
    return field(default_factory=dict, repr=not secret, metadata={**meta, "secret": secret})


@dataclass(frozen=True)
class Settings:
    """Process configuration. Build it with `Settings.from_env()`."""

    database_url: str = _env(
        "DATABASE_URL",
        _url("postgres", "postgresql"),
        help="PostgreSQL URL, postgresql://...",
        secret=True,
    )
    redis_url: str = _env(
        "REDIS_URL",
        _url("redis", "rediss", "unix"),
        help="Redis URL: redis://, rediss:// or unix://",
        secret=True,
    )
    api_keys: tuple[str, ...] = _env(
        "MESSAGING_SERVICE_API_KEY",
        _csv,
        help="Api-Key values the Hub may send; comma-separated so keys can rotate",
        secret=True,
    )
    phone_number_ids: tuple[str, ...] = _env(
        "WHATSAPP_PHONE_NUMBER_ID",
        _numbers,
        help="Meta business phone number ids, comma-separated; the first is the default",
    )
    access_token: str = _env(
        "WHATSAPP_ACCESS_TOKEN",
        help="Meta Cloud API bearer token, for every number without its own",
        secret=True,
    )
    verify_token: str = _env(
        "WHATSAPP_VERIFY_TOKEN", help="token Meta echoes when verifying the webhook", secret=True
    )
    app_secret: str = _env(
        "WHATSAPP_APP_SECRET", help="Meta app secret that signs webhooks", secret=True
    )
    hub_webhook_url: str = _env(
        "HUB_WEBHOOK_URL", _url("http", "https"), help="where Hub events are POSTed"
    )
    hub_webhook_secret: str = _env(
        "HUB_WEBHOOK_SECRET",
        _whsec,
        help="Standard Webhooks signing secret (whsec_...)",
        secret=True,
    )
    health_check_tokens: tuple[str, ...] = _env(
        "HEALTH_CHECK_TOKENS",
        _optional_csv,
        default="",
        help="tokens accepted by /health/ and /metrics, comma-separated; empty disables them",
        secret=True,
    )
    secret_key: str = _env(
        "SECRET_KEY",
        str,
        default="",
        help="accepted for compatibility with the old Django spec; unused",
        secret=True,
    )
    port: int = _env(
        "PORT", _int_in(1, 65535), default="8000", help="web listen port (binds 0.0.0.0)"
    )
    secure_ssl_redirect: bool = _env(
        "SECURE_SSL_REDIRECT",
        _bool,
        default="false",
        help="answer a request that reached the proxy over plain http (X-Forwarded-Proto: http) "
        "with a 301 to the same path on https://PUBLIC_HOST (without PUBLIC_HOST: a 400), "
        "except /ping/ and /webhooks/; true on Railway",
    )
    public_host: str = _env(
        "PUBLIC_HOST",
        _public_host,
        default="",
        help="the service's public host name (on Railway its domain), where SECURE_SSL_REDIRECT "
        "sends plain-http requests; always one of ALLOWED_HOSTS",
    )
    allowed_hosts: tuple[str, ...] = _env(
        "ALLOWED_HOSTS",
        _allowed_hosts,
        default="",
        help="Host header values the web serves, comma-separated (.example.com: that domain "
        "and its subdomains; *: any); other hosts get 400, except on /ping/; empty: any host",
    )
    whatsapp_api_base_url: str = _env(
        "WHATSAPP_API_BASE_URL",
        _http_base,
        default="https://graph.facebook.com",
        help="Graph API base URL (the simulator's URL in development)",
    )
    whatsapp_api_version: str = _env(
        "WHATSAPP_API_VERSION", _version, default="v26.0", help="Graph API version"
    )
    whatsapp_business_account_id: str = _env(
        "WHATSAPP_BUSINESS_ACCOUNT_ID",
        _optional_digits,
        default="",
        help="WhatsApp Business Account id: the worker syncs its template catalog and the API "
        "refuses (422) a template send the catalog says Meta would refuse; empty: no catalog, "
        "nothing checked",
    )
    template_sync_s: float = _env(
        "TEMPLATE_SYNC_S",
        _float_in(1, 86400),
        default="600",
        help="how often the worker syncs the template catalog from Meta (also at start and on "
        "each template status webhook)",
    )
    web_workers: int = _env(
        "WEB_WORKERS", _int_in(1, 64), default="1", help="Sanic worker processes"
    )
    prometheus_multiproc_dir: str = _env(
        "PROMETHEUS_MULTIPROC_DIR",
        str,
        default="",
        help="where web workers share metric files when WEB_WORKERS > 1 (emptied at start; web "
        "only); empty: a fresh temporary directory per start",
    )
    worker_metrics_port: int = _env(
        "WORKER_METRICS_PORT",
        _int_in(0, 65535),
        default="0",
        help="port of the worker's own /metrics (needs a HEALTH_CHECK_TOKENS token; see "
        "Metrics); 0: off",
    )
    log_level: str = _env("LOG_LEVEL", _level, default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    max_send_body_bytes: int = _env(
        "MAX_SEND_BODY_BYTES",
        _int_in(1024, 1 << 20),
        default="65536",
        help="largest accepted send request body",
    )
    webhook_max_body_bytes: int = _env(
        "WEBHOOK_MAX_BODY_BYTES",
        _int_in(64 * 1024, 64 << 20),
        default=str(4 << 20),
        help="largest accepted webhook POST, signed or not: its signature needs it all (Meta "
        "sends at most 3 MB)",
    )
    max_concurrent_uploads: int = _env(
        "MAX_CONCURRENT_UPLOADS",
        _int_in(1, 256),
        default="4",
        help="media uploads one web worker takes at once; more get 429 (each may spool 100 MB)",
    )
    stream_batch_size: int = _env(
        "STREAM_BATCH_SIZE", _int_in(1, 1000), default="100", help="entries read per XREADGROUP"
    )
    stream_block_ms: int = _env(
        "STREAM_BLOCK_MS",
        _int_in(10, 60000),
        default="1000",
        help="how long an idle consumer blocks on XREADGROUP",
    )
    stream_idle_timeout_s: float = _env(
        "STREAM_IDLE_TIMEOUT_S",
        _float_in(0.1, 86400),
        default="60",
        help="pending entries idle this long are reclaimed by another consumer, and claimed "
        "messages whose Meta call never started are queued again",
    )
    stream_max_deliveries: int = _env(
        "STREAM_MAX_DELIVERIES",
        _int_in(1, 100),
        default="5",
        help="deliveries of one entry before it is dead-lettered",
    )
    stream_batches_in_flight: int = _env(
        "STREAM_BATCHES_IN_FLIGHT",
        _int_in(1, 64),
        default="4",
        help="batches one consumer works on at once (keeps the Meta pipe full)",
    )
    send_concurrency: int = _env(
        "SEND_CONCURRENCY",
        _int_in(1, 2000),
        default="256",
        help="Meta calls in flight per business number, and Hub calls, per worker process "
        "(rate x Meta latency needs room)",
    )
    send_rate_per_s: float = _env(
        "SEND_RATE_PER_S",
        _float_in(0.1, 1000),
        default="80",
        help="messages per second to Meta per business number, across all sender replicas",
    )
    send_max_attempts: int = _env(
        "SEND_MAX_ATTEMPTS",
        _int_in(1, 50),
        default="8",
        help="Meta calls per message before it fails (throttling answers do not count)",
    )
    send_pause_s: float = _env(
        "SEND_PAUSE_S",
        _float_in(0.1, 86400),
        default="300",
        help="sending pauses this long after Meta's 131048 (spam limit), 190 (token), "
        "368 (blocked) or 131031 (account locked)",
    )
    pair_rate_limit_s: float = _env(
        "PAIR_RATE_LIMIT_S",
        _float_in(0.01, 3600),
        default="6",
        help="a recipient's messages wait this long after Meta's pair rate limit (131056)",
    )
    hub_retry_schedule_s: tuple[float, ...] = _env(
        "HUB_RETRY_SCHEDULE_S",
        _delays,
        default="5,300,1800,7200,18000,36000,50400,72000,86400",
        help="waits between Hub delivery attempts (Standard Webhooks schedule; +-10% jitter)",
    )
    hub_gone_pause_s: float = _env(
        "HUB_GONE_PAUSE_S",
        _float_in(0.1, 86400),
        default="3600",
        help="Hub deliveries stop this long after the Hub answers 410 Gone",
    )
    retry_poll_s: float = _env(
        "RETRY_POLL_S",
        _float_in(0.01, 60),
        default="0.5",
        help="how often parked messages and Hub events are checked for their next attempt",
    )
    retry_initial_s: float = _env(
        "RETRY_INITIAL_S",
        _float_in(0.001, 60),
        default="0.5",
        help="first wait before a message is retried (doubles, with jitter)",
    )
    retry_max_s: float = _env(
        "RETRY_MAX_S", _float_in(0.001, 3600), default="60", help="cap of one message retry wait"
    )
    http_timeout_s: float = _env(
        "HTTP_TIMEOUT_S", _float_in(0.1, 120), default="10", help="Meta and Hub call timeout"
    )
    sweep_interval_s: float = _env(
        "SWEEP_INTERVAL_S",
        _float_in(0.1, 3600),
        default="30",
        help="how often stale queued messages and unpublished Hub events are re-published",
    )
    send_outcome_timeout_s: float = _env(
        "SEND_OUTCOME_TIMEOUT_S",
        _float_in(1, 86400),
        default="600",
        help="a message `sending` this long with no answer or status ends failed",
    )
    service_window_check: bool = _env(
        "SERVICE_WINDOW_CHECK",
        _bool,
        default="false",
        help="refuse (422) a free-form send to a contact whose 24 h customer-service window "
        "is closed, before Meta does (131047); templates always go",
    )
    message_validity_s: float | None = _env(
        "MESSAGE_VALIDITY_S",
        _optional_seconds(1, 30 * 86400),
        default="",
        help="a message not written to Meta this long after it was accepted fails `expired` "
        "(a send's `validity_period_s` wins); empty: no limit",
    )
    status_hold_s: float = _env(
        "STATUS_HOLD_S",
        _float_in(0, 3600),
        default="30",
        help="a status for a wamid we do not know is matched again this long (the sender's "
        "write may be late), then kept as foreign",
    )
    shutdown_timeout_s: float = _env(
        "SHUTDOWN_TIMEOUT_S",
        _float_in(0.1, 600),
        default="20",
        help="how long web and worker finish in-flight work after SIGTERM",
    )
    sweep_stale_s: float = _env(
        "SWEEP_STALE_S",
        _float_in(0.1, 86400),
        default="120",
        help="age after which an unpublished row counts as stale",
    )

    access_tokens: Mapping[str, str] = _per_number(
        "WHATSAPP_ACCESS_TOKEN", _text, help="that number's own Meta bearer token", secret=True
    )
    send_rates_per_s: Mapping[str, float] = _per_number(
        "SEND_RATE_PER_S",
        _float_in(0.1, 1000),
        help="that number's messages per second to Meta (its tier), instead of SEND_RATE_PER_S",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every variable; raise SettingsError naming the first bad one."""
        environ = os.environ if environ is None else environ
        plain = [f for f in fields(cls) if "<" not in f.metadata["env"]]
        values = {f.name: _read(f.metadata, environ) for f in plain}
        for f in fields(cls):
            if f not in plain:
                values[f.name] = _read_per_number(f.metadata, environ, values["phone_number_ids"])
        return cls(**values)

    @classmethod
    def one(cls, env_name: str, environ: Mapping[str, str] | None = None) -> Any:
        """Read a single variable, for commands (like migrate) that need only that one."""
        environ = os.environ if environ is None else environ
        meta = next(f.metadata for f in fields(cls) if f.metadata["env"] == env_name)
        return _read(meta, environ)

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """Every variable with its default and help, for docs and `.env.example` checks; a
        per-number variable right after the one it overrides."""
        out = [
            {
                "env": f.metadata["env"],
                "default": f.metadata["default"],
                "help": f.metadata["help"],
                "secret": f.metadata["secret"],
            }
            for f in fields(cls)
        ]
        for v in [v for v in out if "<" in v["env"]]:
            out.remove(v)
            base = v["env"].removesuffix("_<phone_number_id>")
            out.insert(next(i for i, b in enumerate(out) if b["env"] == base) + 1, v)
        return out

    @property
    def phone_number_id(self) -> str:
        """The default number: a send that names none goes from it."""
        return self.phone_number_ids[0]

    @functools.cached_property
    def numbers(self) -> Numbers:
        """The business numbers, each with its token, rate and URLs (`core.numbers`)."""
        return Numbers.build(
            self.phone_number_ids,
            token=self.access_token,
            rate_per_s=self.send_rate_per_s,
            graph_url=self.graph_url(),
            tokens=self.access_tokens,
            rates_per_s=self.send_rates_per_s,
        )

    def graph_url(self, *path: str) -> str:
        """A Graph API URL of this version: `graph_url(media_id)`, `graph_url(pnid, "media")`."""
        return "/".join((self.whatsapp_api_base_url, self.whatsapp_api_version, *path))


def _read_per_number(
    meta: Mapping[str, Any], environ: Mapping[str, str], numbers: tuple[str, ...]
) -> dict[str, Any]:
    prefix = meta["env"].removesuffix("<phone_number_id>")
    found = {}
    for name in sorted(environ):
        number = name.removeprefix(prefix)
        if number == name or not number.isdigit() or not environ[name].strip():
            continue
        if number not in numbers:
            raise SettingsError(f"{name} names a number not in WHATSAPP_PHONE_NUMBER_ID")
        found[number] = _read({**meta, "env": name}, environ)
    return found


def _read(meta: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
    # An empty variable counts as unset, so `FOO=` in a .env file means "use the default".
    raw = environ.get(meta["env"], "").strip() or meta["default"]
    if raw is None:
        raise SettingsError(f"{meta['env']} is missing ({meta['help']})")
    try:
        return meta["cast"](raw)
    except ValueError as exc:
        raise SettingsError(f"{meta['env']} {exc} ({meta['help']})") from None
