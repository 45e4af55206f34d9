"""One typed settings object for every process, read once from the environment.

`Settings` is what both processes read (`SharedSettings`, here), what only the web reads
(`core.settings_web`) and what only the worker reads (`core.settings_worker`); each process
reads it with its name, so a required variable only the other process reads may be unset
there. How a variable is declared and read (cast, default, help, per-number overrides):
`core.env`; the casts: `core.casts`. A missing or malformed variable raises `SettingsError`
naming it; entry points print that one line and exit. Secrets are excluded from `repr()`,
so a logged settings object never leaks them. SECRET_KEY (the old Django spec's) is
accepted and ignored, with a warning.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core import casts, env
from core.env import PROCESSES, SettingsError, per_number, variable
from core.numbers import Numbers
from core.settings_web import WebSettings
from core.settings_worker import WorkerSettings

__all__ = ["PROCESSES", "Settings", "SettingsError"]

logger = logging.getLogger("core.settings")


@dataclass(frozen=True, kw_only=True)
class SharedSettings:
    """What both processes read."""

    database_url: str = variable(
        "DATABASE_URL",
        casts.url("postgres", "postgresql"),
        help="PostgreSQL URL, postgresql://...",
        secret=True,
    )
    redis_url: str = variable(
        "REDIS_URL",
        casts.url("redis", "rediss", "unix"),
        help="Redis URL: redis://, rediss:// or unix://",
        secret=True,
    )
    redis_cluster: bool | None = variable(
        "REDIS_CLUSTER",
        casts.boolean_or_auto,
        default="false",
        help="true: REDIS_URL is a Redis Cluster node (redis-py's cluster client); auto: ask "
        "the server at start (INFO cluster), so Redis must answer then",
    )
    stream_shards: int = variable(
        "STREAM_SHARDS",
        casts.int_in(1, 64),
        default="1",
        help="shards of the webhook stream and of the Hub-event stream, each on its own cluster "
        "slot; raise it (never lower it with entries waiting) to spread them over the masters",
    )
    phone_number_ids: tuple[str, ...] = variable(
        "WHATSAPP_PHONE_NUMBER_ID",
        casts.numbers,
        help="Meta business phone number ids, comma-separated; the first is the default",
    )
    access_token: str = variable(
        "WHATSAPP_ACCESS_TOKEN",
        help="Meta Cloud API bearer token, for every number without its own",
        secret=True,
    )
    whatsapp_api_base_url: str = variable(
        "WHATSAPP_API_BASE_URL",
        casts.http_base,
        default="https://graph.facebook.com",
        help="Graph API base URL (the simulator's URL in development)",
    )
    whatsapp_api_version: str = variable(
        "WHATSAPP_API_VERSION", casts.version, default="v26.0", help="Graph API version"
    )
    whatsapp_business_account_id: str = variable(
        "WHATSAPP_BUSINESS_ACCOUNT_ID",
        casts.optional_digits,
        default="",
        help="WhatsApp Business Account id: the worker syncs its template catalog and the API "
        "refuses (422) a template send the catalog says Meta would refuse; empty: no catalog, "
        "nothing checked",
    )
    health_check_tokens: tuple[str, ...] = variable(
        "HEALTH_CHECK_TOKENS",
        casts.optional_csv,
        default="",
        help="tokens accepted by /health/ and /metrics, comma-separated; empty disables them",
        secret=True,
    )
    log_level: str = variable(
        "LOG_LEVEL", casts.level, default="INFO", help="DEBUG, INFO, WARNING or ERROR"
    )
    http_timeout_s: float = variable(
        "HTTP_TIMEOUT_S", casts.float_in(0.1, 120), default="10", help="Meta and Hub call timeout"
    )
    shutdown_timeout_s: float = variable(
        "SHUTDOWN_TIMEOUT_S",
        casts.float_in(0.1, 600),
        default="20",
        help="how long web and worker finish in-flight work after SIGTERM",
    )
    access_tokens: Mapping[str, str] = per_number(
        "WHATSAPP_ACCESS_TOKEN", casts.text, help="that number's own Meta bearer token", secret=True
    )


@dataclass(frozen=True, kw_only=True)
class Settings(WorkerSettings, WebSettings, SharedSettings):
    """Process configuration. Build it with `Settings.from_env()`."""

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, process: str | None = None
    ) -> Settings:
        """Read every variable; raise SettingsError naming the first bad one. With `process`
        (`web` or `worker`), a required variable only the other process reads may be unset."""
        environ = os.environ if environ is None else environ
        if environ.get("SECRET_KEY", "").strip():
            logger.warning("SECRET_KEY is set but unused (the old Django spec's): ignored")
        return cls(**env.read_all(cls, environ, process))

    @classmethod
    def one(cls, env_name: str, environ: Mapping[str, str] | None = None) -> Any:
        """Read a single variable, for commands (like migrate) that need only that one."""
        return env.read_one(cls, env_name, os.environ if environ is None else environ)

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        return env.describe(cls)

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
