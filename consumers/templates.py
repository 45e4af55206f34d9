"""The template catalog sync: Meta's `message_templates` listing into PostgreSQL.

With WHATSAPP_BUSINESS_ACCOUNT_ID set, the worker reads every page (following `paging.next`
to the last one) and replaces the catalog in one transaction (`db.templates`): at start when
it was never synced, whenever the last sync (by any replica) is TEMPLATE_SYNC_S old, and
within a second of a `message_template_status_update` webhook (the webhook processor sets a
flag in Redis, `sync_wanted`; whichever worker sees it first syncs). One replica syncs at a
time (a Redis lock, like the sweeper's), so one sync per interval in all. A sync that fails
(Meta down, a page refused or unreadable) logs a warning, writes nothing and is tried again
after 1, 2, 4... seconds, then every minute: the catalog stays the last whole one. Nothing
here stops the worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from consumers.context import Context
from consumers.periodic import periodic
from core.failures import OUTAGES
from core.names import TEMPLATE_SYNC_LOCK_KEY, TEMPLATE_SYNC_WANTED_KEY
from core.settings import Settings
from db import templates
from db.templates import CatalogTemplate
from whatsapp import client as meta
from whatsapp.errors import MetaError
from whatsapp.templates import MalformedTemplates, Template, parse_page

logger = logging.getLogger("consumers.templates")

MAX_PAGES = 1000  # 25,000 templates at Meta's default page size; more is a paging loop
RETRY_FAILED_S = 60.0  # a failing sync is tried again after 1, 2, 4... s, then every minute
_FIRST_RETRY_S = 1.0
_LOOK_EVERY_S = 10.0  # how often each worker reads the catalog's age (one row)
_POLL_S = 1.0  # how often the flag set by a template status webhook is looked at
_LOCK_MS = 120_000  # a sync holds the lock this long at most (it deletes it when done)


async def fetch_catalog(settings: Settings) -> list[Template]:
    """Every template of the WABA, all pages; raises `MetaError` or `MalformedTemplates`."""
    url = settings.graph_url(settings.whatsapp_business_account_id, "message_templates")
    found: list[Template] = []
    after: str | None = None
    async with meta.open_client(settings.http_timeout_s, settings.access_token) as client:
        for _ in range(MAX_PAGES):
            # The next page is asked for by its cursor, on our own URL: Meta's `next` link may
            # carry a token, and only the configured host ever gets ours.
            params = {"after": after} if after else {}
            response = await meta.call(client, client.build_request("GET", url, params=params))
            page = parse_page(meta.json_object(response))
            for reason in page.skipped:
                logger.warning("template left out of the catalog: %s", reason)
            found += page.templates
            if page.after is None:
                return found
            after = page.after
    raise MalformedTemplates(f"more than {MAX_PAGES} pages")


async def sync_once(ctx: Context) -> int:
    """Read the whole catalog from Meta and store it; returns how many templates it has."""
    started_at = datetime.now(UTC)
    found = await fetch_catalog(ctx.settings)
    rows = [CatalogTemplate(t.name, t.language, t.status, t.category, _listed(t)) for t in found]
    waba_id = ctx.settings.whatsapp_business_account_id
    if await templates.replace_catalog(ctx.pool, waba_id, rows, started_at):
        logger.info("template catalog synced templates=%d", len(rows))
    return len(rows)


async def sync_wanted(ctx: Context) -> None:
    """Ask for a sync soon (Meta said a template changed); best effort: the next periodic
    sync catches up if Redis is down."""
    if not ctx.settings.whatsapp_business_account_id:
        return
    try:
        await ctx.redis.set(TEMPLATE_SYNC_WANTED_KEY, "1")
    except OUTAGES as exc:
        logger.warning("template sync not requested: Redis unavailable (%s)", type(exc).__name__)


async def run(ctx: Context, stop: asyncio.Event) -> None:
    """Sync when the catalog is older than TEMPLATE_SYNC_S (never synced: at once) and when
    a status webhook wants it; one replica at a time (a Redis lock held while it syncs)."""
    if not ctx.settings.whatsapp_business_account_id:
        await stop.wait()  # no catalog: nothing to do, but never end on our own
        return
    await periodic("template sync", _Turns(ctx).take, _POLL_S, stop, logger)


@dataclass
class _Turns:
    """When this worker syncs next; `take` runs every _POLL_S."""

    ctx: Context
    owed: bool = False  # a webhook wanted a sync that has not succeeded yet
    look_at: float = 0.0  # when to look again (monotonic): at the catalog's age, or to retry
    backoff: float = _FIRST_RETRY_S  # the wait after the next failed sync

    async def take(self) -> None:
        """Sync now if a webhook wants it, else, when it is time to look, if the catalog is
        stale and this replica takes the lock (an owed sync needs neither)."""
        wanted = bool(await self.ctx.redis.delete(TEMPLATE_SYNC_WANTED_KEY))
        self.owed = self.owed or wanted
        if not wanted and time.monotonic() < self.look_at:
            return
        interval = self.ctx.settings.template_sync_s
        self.look_at = time.monotonic() + min(interval, _LOOK_EVERY_S)
        if self.owed:
            synced = await _sync_logged(self.ctx)
        elif await _stale(self.ctx, interval) and await _take_turn(self.ctx):
            try:
                synced = await _sync_logged(self.ctx)
            finally:
                await self.ctx.redis.delete(TEMPLATE_SYNC_LOCK_KEY)
        else:
            return
        if synced:
            self.owed, self.backoff = False, _FIRST_RETRY_S
        else:  # Meta (or PostgreSQL) down: again soon, then less and less often
            self.look_at = time.monotonic() + self.backoff
            self.backoff = min(self.backoff * 2, RETRY_FAILED_S)


async def _stale(ctx: Context, interval: float) -> bool:
    """Never synced, or last synced `interval` ago or more (by any replica)."""
    sync = await templates.last_sync(ctx.pool, ctx.settings.whatsapp_business_account_id)
    return sync is None or datetime.now(UTC) - sync.synced_at >= timedelta(seconds=interval)


async def _take_turn(ctx: Context) -> bool:
    return bool(await ctx.redis.set(TEMPLATE_SYNC_LOCK_KEY, "1", nx=True, px=_LOCK_MS))


async def _sync_logged(ctx: Context) -> bool:
    """One sync; a failure is logged (never the token) and leaves the catalog as it was."""
    try:
        await sync_once(ctx)
    except (MetaError, MalformedTemplates) as exc:
        logger.warning("template sync failed, the catalog is kept: %s", exc)
    except OUTAGES as exc:
        logger.warning("template sync failed, PostgreSQL unavailable (%s)", type(exc).__name__)
    except Exception:  # never die quietly: the next turn tries again
        logger.exception("template sync failed")
    else:
        return True
    return False


def _listed(template: Template) -> dict[str, object]:
    """The stored definition: Meta's fields the catalog shows, as listed."""
    return {
        "id": template.id,
        "name": template.name,
        "language": template.language,
        "status": template.status,
        "category": template.category,
        "parameter_format": template.parameter_format,
        "components": template.components,
    }
