"""The send path: outbound stream -> claim in PostgreSQL -> Meta -> sent or failed.

A message is claimed (queued -> sending) before any Meta call, in one statement for the
whole batch, so a duplicated entry or a second replica can never send it twice. Retryable
Meta errors are retried with tenacity (exponential backoff with jitter, capped); the batch's
results are then recorded together, with their Hub events, in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from consumers import events
from consumers.meta import MetaError, MetaOutcomeUnknown, send_message
from consumers.runner import Consumer, Entry
from db import messages
from db.messages import StatusChange
from server.constants import FAILED, OUTBOUND_STREAM, SENDERS_GROUP, SENT
from server.errors import OUTAGES

logger = logging.getLogger("consumers.sender")
_RECORD_PATIENCE_S = 300  # after that, status webhooks or the sweeper settle the messages


async def handle(ctx: Any, entries: list[Entry]) -> dict[str, str]:
    ids, bad = [], {}
    for e in entries:
        try:
            ids.append(UUID(e.fields.get("message_id", "")))
        except ValueError:
            bad[e.id] = "message_id is not a UUID"
    claimed = await messages.claim(ctx.pool, ids) if ids else []
    if not claimed:
        return bad
    limit = asyncio.Semaphore(ctx.settings.send_concurrency)
    outcomes = await asyncio.gather(*(_send(ctx, row, limit) for row in claimed))
    # These messages left `queued`, so a redelivered entry would not find them again: keep
    # the answers we hold until they are stored, rather than failing the batch.
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(OUTAGES),
        wait=wait_exponential_jitter(initial=0.2, max=10),
        stop=stop_after_delay(_RECORD_PATIENCE_S),
        reraise=True,
    ):
        with attempt:
            await events.record(ctx, [c for c in outcomes if c is not None])
    return bad


async def _send(ctx: Any, row: Any, limit: asyncio.Semaphore) -> StatusChange | None:
    s = ctx.settings
    retrying = AsyncRetrying(
        stop=stop_after_attempt(s.send_max_attempts),
        wait=wait_exponential_jitter(initial=s.retry_initial_s, max=s.retry_max_s),
        retry=retry_if_exception(lambda exc: isinstance(exc, MetaError) and exc.retryable),
        reraise=True,
    )
    message_id = row["id"]
    try:
        async with limit:
            async for attempt in retrying:
                with attempt:
                    wamid = await send_message(
                        ctx.http, s.meta_messages_url, s.access_token, row["payload"]
                    )
    except MetaOutcomeUnknown as exc:
        logger.warning("send outcome unknown message_id=%s error=%s", message_id, exc)
        return None  # stays `sending`; a status webhook or the sweeper settles it
    except MetaError as exc:
        logger.info("send failed message_id=%s code=%s title=%s", message_id, exc.code, exc.title)
        return StatusChange(message_id, FAILED, datetime.now(UTC), "sender", error=exc.as_error())
    return StatusChange(message_id, SENT, datetime.now(UTC), "sender", wamid=wamid)


CONSUMER = Consumer("sender", OUTBOUND_STREAM, SENDERS_GROUP, handle)
