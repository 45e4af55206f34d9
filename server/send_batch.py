"""Store and publish send requests together: one INSERT and one XADD round trip per batch
(`core.batcher`). Every request still gets its own outcome, and only once its own row is
stored and its own entry published.

Requests with the same Idempotency-Key are serialised by a PostgreSQL advisory lock held
from the INSERT until the publish (or its undo) is done, so a concurrent retry never
reports as accepted a message that is then deleted.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core import broker
from core.batcher import Batcher
from core.failures import OUTAGES
from db import messages
from db.messages import NewMessage

logger = logging.getLogger("server.send")

# Sorted, so two flushes wanting the same keys take them in the same order (no deadlock).
_LOCK = "SELECT pg_advisory_lock(k) FROM unnest($1::bigint[]) AS k ORDER BY k"
_UNLOCK_ALL = "SELECT pg_advisory_unlock_all()"


@dataclass(frozen=True, slots=True)
class Outcome:
    """`accepted`: stored and queued, `row` is ours. `replayed`: the key's earlier message,
    `row` is it. `conflict`: the key was used with another body. `unavailable`: nothing
    was stored."""

    kind: str
    row: Any = None


def send_batcher(pool: asyncpg.Pool, redis: Redis) -> Batcher[NewMessage, Outcome]:
    """The web process's batcher of send requests."""

    async def flush(batch: list[NewMessage]) -> list[Outcome]:
        try:
            return await store_and_publish(pool, redis, batch)
        except asyncpg.DataError as exc:
            if len(batch) == 1:
                raise
            # One bad row must not fail the others: store each on its own.
            logger.warning("batch insert failed, storing one by one: %s", exc)
            return [(await store_and_publish(pool, redis, [m]))[0] for m in batch]

    return Batcher(flush)


async def store_and_publish(
    pool: asyncpg.Pool, redis: Redis, batch: list[NewMessage]
) -> list[Outcome]:
    """One `Outcome` per message of `batch`, in order."""
    keys = sorted({_lock_key(m.idempotency_key) for m in batch if m.idempotency_key})
    async with pool.acquire() as conn:
        if keys:
            await conn.execute(_LOCK, keys)
        try:
            return await _store_and_publish(conn, redis, batch)
        finally:
            if keys:
                await _unlock(conn)


async def _store_and_publish(
    conn: asyncpg.Connection, redis: Redis, batch: list[NewMessage]
) -> list[Outcome]:
    stored = await messages.insert_many(conn, batch)
    undone: set[UUID] = set()
    if stored:
        try:
            await broker.publish_outbound(
                redis, [(m.id, m.phone_number_id) for m in batch if m.id in stored]
            )
        except (RedisError, OSError) as exc:
            undone = await _undo(conn, list(stored), exc)
    taken = [m.idempotency_key for m in batch if m.id not in stored and m.idempotency_key]
    # Read after our own publish or undo: a duplicate within this batch sees the final state.
    existing = await messages.get_by_idempotency_keys(conn, taken) if taken else {}
    return [_outcome(m, stored, undone, existing) for m in batch]


async def _undo(conn: asyncpg.Connection, ids: list[UUID], exc: Exception) -> set[UUID]:
    """Delete what could not be published; what a sender already claimed stays accepted."""
    try:
        deleted = await messages.delete_queued(conn, ids)
    except OUTAGES:
        # Stored but not published, and not undone: the sweeper publishes these within
        # SWEEP_STALE_S, so they are accepted (a 503 would invite a keyless retry: a double).
        logger.warning("publish failed (%s) and undo failed: %d left to the sweeper", exc, len(ids))
        return set()
    if len(deleted) < len(ids):
        logger.warning("publish reported %s but %d were claimed", exc, len(ids) - len(deleted))
    return deleted


def _outcome(
    m: NewMessage,
    stored: dict[UUID, Any],
    undone: set[UUID],
    existing: dict[str, Any],
) -> Outcome:
    if m.id in stored:
        return Outcome("unavailable") if m.id in undone else Outcome("accepted", stored[m.id])
    row = existing.get(m.idempotency_key or "")
    if row is None:  # its first request's publish failed just now and was undone
        return Outcome("unavailable")
    if row["request_hash"] != m.request_hash or row["phone_number_id"] != m.phone_number_id:
        return Outcome("conflict", row)
    return Outcome("replayed", row)


def _lock_key(idempotency_key: str) -> int:
    """A signed 64-bit advisory lock id for the key (collisions only serialise more)."""
    digest = hashlib.blake2b(idempotency_key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _unlock(conn: asyncpg.Connection) -> None:
    try:
        await conn.execute(_UNLOCK_ALL)
    except BaseException:
        # A lock must never outlive its request on a pooled connection: drop the session.
        conn.terminate()
        raise
