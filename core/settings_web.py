"""The web's settings (`python -m server`): what only the web reads. Part of `Settings`."""

from __future__ import annotations

from dataclasses import dataclass

from core import api_keys, casts, rate_card
from core.api_keys import ApiKey
from core.env import variable
from core.rate_card import RateCard


@dataclass(frozen=True, kw_only=True)
class WebSettings:
    api_keys: tuple[ApiKey, ...] = variable(
        "MESSAGING_SERVICE_API_KEY",
        api_keys.parse,
        help="Api-Key values callers may send, comma-separated: `name:key` names the caller "
        "(usage counts by it), a bare key is the caller `default`; several keys of one name "
        "rotate",
        secret=True,
        read_by=("web",),
        absent=(),
    )
    verify_token: str = variable(
        "WHATSAPP_VERIFY_TOKEN",
        help="token Meta echoes when verifying the webhook",
        secret=True,
        read_by=("web",),
    )
    app_secret: str = variable(
        "WHATSAPP_APP_SECRET",
        help="Meta app secret that signs webhooks",
        secret=True,
        read_by=("web",),
    )
    port: int = variable(
        "PORT", casts.int_in(1, 65535), default="8000", help="web listen port (binds 0.0.0.0)"
    )
    secure_ssl_redirect: bool = variable(
        "SECURE_SSL_REDIRECT",
        casts.boolean,
        default="false",
        help="answer a request that reached the proxy over plain http (X-Forwarded-Proto: http) "
        "with a 301 to the same path on https://PUBLIC_HOST (without PUBLIC_HOST: a 400), "
        "except /ping/ and /webhooks/; true on Railway",
    )
    public_host: str = variable(
        "PUBLIC_HOST",
        casts.public_host,
        default="",
        help="the service's public host name (on Railway its domain), where SECURE_SSL_REDIRECT "
        "sends plain-http requests; always one of ALLOWED_HOSTS",
    )
    allowed_hosts: tuple[str, ...] = variable(
        "ALLOWED_HOSTS",
        casts.allowed_hosts,
        default="",
        help="Host header values the web serves, comma-separated (.example.com: that domain "
        "and its subdomains; *: any); other hosts get 400, except on /ping/; empty: any host",
    )
    web_workers: int = variable(
        "WEB_WORKERS", casts.int_in(1, 64), default="1", help="Sanic worker processes"
    )
    prometheus_multiproc_dir: str = variable(
        "PROMETHEUS_MULTIPROC_DIR",
        str,
        default="",
        help="where web workers share metric files when WEB_WORKERS > 1 (emptied at start; web "
        "only); empty: a fresh temporary directory per start",
    )
    max_send_body_bytes: int = variable(
        "MAX_SEND_BODY_BYTES",
        casts.int_in(1024, 1 << 20),
        default="65536",
        help="largest accepted send request body",
    )
    webhook_max_body_bytes: int = variable(
        "WEBHOOK_MAX_BODY_BYTES",
        casts.int_in(64 * 1024, 64 << 20),
        default=str(4 << 20),
        help="largest accepted webhook POST, signed or not: its signature needs it all (Meta "
        "sends at most 3 MB)",
    )
    webhook_wait_replicas: int = variable(
        "WEBHOOK_WAIT_REPLICAS",
        casts.int_in(0, 5),
        default="0",
        help="replicas that must hold a webhook's stream entry (Redis WAIT, up to 1 s) before "
        "Meta gets its 200, so a failover cannot lose it (short of an attached replica: 503, "
        "Meta retries); 1 on a Redis Cluster, 0: no wait",
    )
    max_concurrent_uploads: int = variable(
        "MAX_CONCURRENT_UPLOADS",
        casts.int_in(1, 256),
        default="4",
        help="media uploads one web worker takes at once; more get 429 (each may spool 100 MB)",
    )
    service_window_check: bool = variable(
        "SERVICE_WINDOW_CHECK",
        casts.boolean,
        default="false",
        help="refuse (422) a free-form send to a contact whose 24 h customer-service window "
        "is closed, before Meta does (131047); templates always go",
    )
    message_validity_s: float | None = variable(
        "MESSAGE_VALIDITY_S",
        casts.optional_seconds(1, 30 * 86400),
        default="",
        help="a message not written to Meta this long after it was accepted fails `expired` "
        "(a send's `validity_period_s` wins); empty: no limit",
    )
    usage_rate_card: RateCard | None = variable(
        "USAGE_RATE_CARD_PATH",
        rate_card.load,
        default="",
        help="a rate card file (JSON or .csv: country calling code x pricing category -> "
        "price, one currency) that GET /api/v1/usage/ turns counts into an estimated cost "
        "with; Meta's invoice is the truth; empty: counts only",
        read_by=("web",),
    )
