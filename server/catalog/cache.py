"""The web process's copy of the template catalog, so that checking a template send costs
no query (the send path takes thousands of requests a second).

`TemplateCache.current()` reads `template_syncs` (one primary-key row) at most once every
`CHECK_EVERY_S` per web process, and reloads the catalog only when a sync has replaced it
since. How stale a check can be: the copy lags PostgreSQL by at most `CHECK_EVERY_S` (plus
the one reload), and PostgreSQL lags Meta by at most TEMPLATE_SYNC_S, or by the seconds a
sync takes after a template status webhook. Requests that find the copy due wait for one
reload; they never start their own. While PostgreSQL is unreachable the last copy is kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from core.failures import OUTAGES
from db import templates
from whatsapp.templates import Template, parse_template

logger = logging.getLogger("server.template_catalog")

CHECK_EVERY_S = 1.0


@dataclass(frozen=True)
class Catalog:
    """The catalog as the last sync wrote it: name -> language -> template."""

    waba_id: str
    synced_at: datetime
    by_name: dict[str, dict[str, Template]]


class TemplateCache:
    """One per web process; `current()` is the catalog, or None while it was never synced."""

    def __init__(
        self, pool: asyncpg.Pool, waba_id: str, check_every_s: float = CHECK_EVERY_S
    ) -> None:
        self._pool = pool
        self._waba_id = waba_id
        self._check_every_s = check_every_s
        self._catalog: Catalog | None = None
        self._due = 0.0  # monotonic time of the next look at template_syncs
        self._lock = asyncio.Lock()

    async def current(self) -> Catalog | None:
        if time.monotonic() >= self._due:
            async with self._lock:
                if time.monotonic() >= self._due:
                    await self._refresh()
        return self._catalog

    async def _refresh(self) -> None:
        try:
            sync = await templates.last_sync(self._pool, self._waba_id)
            if sync is None:
                self._catalog = None
            elif self._catalog is None or self._catalog.synced_at != sync.synced_at:
                rows = await templates.catalog(self._pool, self._waba_id)
                by_name: dict[str, dict[str, Template]] = {}
                for row in rows:
                    by_name.setdefault(row.name, {})[row.language] = parse_template(row.definition)
                self._catalog = Catalog(self._waba_id, sync.synced_at, by_name)
        except OUTAGES as exc:
            if self._catalog is None:
                raise  # nothing to check against: the send answers 503, as any outage
            logger.warning(
                "template catalog not refreshed (%s); using the last copy", type(exc).__name__
            )
        self._due = time.monotonic() + self._check_every_s
