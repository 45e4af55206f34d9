"""The one stream loop every consumer runs; handlers never touch Redis plumbing.

A consumer module declares a `Consumer` (stream, group, `handle`). The runner creates the
group, reads batches with XREADGROUP, calls `handle(ctx, entries)` on up to
`batches_in_flight` batches at once, then XACKs and XDELs what succeeded (so a stream's
length is its backlog). Every half `idle_timeout_s` it takes over entries another consumer
left pending past the idle timeout (XAUTOCLAIM); an entry delivered more than
`max_deliveries` times is moved to `<stream>:dead` instead; then the consumers of dead
workers that hold nothing pending any more leave the group (`liveness.forget_dead_consumers`).

Failure policy, in one place:
- the handler returns `{entry_id: reason}` for entries that can never succeed: dead-lettered
  at once;
- PostgreSQL or Redis unavailable: the same batch is retried in place with backoff, without
  counting against the entry (an outage must not dead-letter good work);
- any other exception: the batch is retried entry by entry so one poison entry fails alone;
  a failed entry stays pending (its error noted in `messaging:last-errors:{stream}`) and
  comes back through XAUTOCLAIM until it is dead-lettered, with that last error;
- an unexpected error in the loop itself (a Redis error of a new kind, say) is logged and
  the loop goes on after a backoff: a consumer never dies quietly while its process lives.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from consumers import liveness, retries, worker_metrics
from consumers.context import Context
from consumers.periodic import sleep_unless_stopped
from core.failures import OUTAGES, TRANSIENT
from core.names import LAST_ERRORS_KEY, dead_letter_stream

logger = logging.getLogger("consumers")
_LAST_ERRORS_TTL_S = 86400  # a failed entry is reclaimed or dead-lettered well within a day


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    fields: dict[str, str]


Handler = Callable[[Context, list[Entry]], Awaitable[dict[str, str] | None]]


@dataclass(frozen=True)
class Consumer:
    """What a consumer module declares: where it reads and what it does with a batch."""

    name: str
    stream: str
    group: str
    handle: Handler
    batch_size: int | None = None  # None: STREAM_BATCH_SIZE
    batches_in_flight: int | None = None  # None: STREAM_BATCHES_IN_FLIGHT


@dataclass
class Runner:
    consumer: Consumer
    ctx: Context
    consumer_name: str
    stop: asyncio.Event
    batch_size: int = 100
    batches_in_flight: int = 1
    block_ms: int = 1000
    idle_timeout_s: float = 60.0
    max_deliveries: int = 5

    @property
    def redis(self) -> Redis:
        return self.ctx.redis

    async def run(self) -> None:
        """Loop until `stop` is set; batches in hand are finished, never abandoned."""
        c = self.consumer
        logger.info(
            "consumer started name=%s stream=%s group=%s consumer=%s batches_in_flight=%d",
            c.name,
            c.stream,
            c.group,
            self.consumer_name,
            self.batches_in_flight,
        )
        room = asyncio.Semaphore(self.batches_in_flight)
        in_flight: set[asyncio.Task[None]] = set()
        next_claim = 0.0
        failures = 0
        try:
            while not self.stop.is_set():
                await room.acquire()
                if self.stop.is_set():
                    room.release()
                    break
                try:
                    if time.monotonic() >= next_claim:
                        next_claim = time.monotonic() + max(self.idle_timeout_s / 2, 0.05)
                        entries = await self._reclaim()
                    else:
                        entries = await self._read()
                    failures = 0
                except Exception as exc:
                    room.release()
                    failures += 1
                    await self._sleep(self._log_loop_error(exc, failures))
                    continue
                if not entries:
                    room.release()
                    continue
                task = asyncio.create_task(self._process(entries))
                in_flight.add(task)
                task.add_done_callback(lambda t: (in_flight.discard(t), room.release()))
            await asyncio.gather(*in_flight)
        except asyncio.CancelledError:  # the shutdown deadline passed
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            raise
        logger.info("consumer stopped name=%s", c.name)

    def _log_loop_error(self, exc: Exception, failures: int) -> float:
        delay = _backoff(failures)
        if isinstance(exc, OUTAGES):
            logger.warning(
                "consumer name=%s redis unavailable (%s); retry in %.1fs",
                self.consumer.name,
                type(exc).__name__,
                delay,
            )
        else:
            logger.exception(
                "consumer name=%s loop error; retry in %.1fs", self.consumer.name, delay
            )
        return delay

    async def _read(self) -> list[Entry]:
        c = self.consumer
        try:
            reply = await self.redis.xreadgroup(
                c.group,
                self.consumer_name,
                {c.stream: ">"},
                count=self.batch_size,
                block=self.block_ms,
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()
            return []
        return [Entry(i, f) for _, items in reply or [] for i, f in items if f is not None]

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(
                self.consumer.stream, self.consumer.group, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _reclaim(self) -> list[Entry]:
        """Take over entries idle past the timeout; dead-letter the over-delivered ones."""
        c = self.consumer
        idle_ms = int(self.idle_timeout_s * 1000)
        try:
            reply = await self.redis.xautoclaim(
                c.stream, c.group, self.consumer_name, idle_ms, "0-0", count=self.batch_size
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()
            return []
        claimed = reply[1]
        await liveness.forget_dead_consumers(self.redis, c.stream, c.group, self.consumer_name)
        gone = [i for i, f in claimed if f is None]  # deleted while pending (Redis 6.2)
        live = [Entry(i, f) for i, f in claimed if f is not None]
        if gone:
            await self.redis.xack(c.stream, c.group, *gone)
        if not live:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for e in live:  # exact counts per entry, whatever else this consumer holds
                pipe.xpending_range(c.stream, c.group, min=e.id, max=e.id, count=1)
            pending = [p for reply in await pipe.execute() for p in reply]
        deliveries = {p["message_id"]: p["times_delivered"] for p in pending}
        over_ids = [e.id for e in live if deliveries.get(e.id, 0) > self.max_deliveries]
        over = {}
        if over_ids:
            errors = await self.redis.hmget(self._errors_key, over_ids)
            for i, error in zip(over_ids, errors, strict=True):
                over[i] = f"delivered {deliveries[i]} times without success"
                over[i] += f"; last error: {error}" if error else ""
        if over:
            await self._dead_letter([e for e in live if e.id in over], over, deliveries)
        logger.info(
            "consumer name=%s reclaimed=%d dead_lettered=%d",
            c.name,
            len(live) - len(over),
            len(over),
        )
        return [e for e in live if e.id not in over]

    async def _process(self, entries: list[Entry]) -> None:
        try:
            await self._handle(entries)
        except Exception:  # acking failed: the entries stay pending and come back
            logger.exception(
                "consumer name=%s batch of %d left pending", self.consumer.name, len(entries)
            )

    async def _handle(self, entries: list[Entry]) -> None:
        failures = 0
        while True:
            try:
                dead = await self.consumer.handle(self.ctx, entries) or {}
                break
            except TRANSIENT as exc:
                # Keep the batch: it is not the entries' fault. Stop waiting on shutdown;
                # the entries stay pending and another consumer reclaims them.
                failures += 1
                delay = _backoff(failures)
                logger.warning(
                    "consumer name=%s dependency unavailable (%s); batch of %d retried in %.1fs",
                    self.consumer.name,
                    type(exc).__name__,
                    len(entries),
                    delay,
                )
                if self.stop.is_set():
                    return
                await self._sleep(delay)
            except Exception as exc:
                if len(entries) == 1:
                    logger.exception(
                        "consumer name=%s entry=%s failed; left pending",
                        self.consumer.name,
                        entries[0].id,
                        extra=_entry_fields(self.consumer, entries[0]),
                    )
                    await self._note_error(entries[0], exc)
                    return
                for entry in entries:  # isolate the poison entry
                    await self._handle([entry])
                return
        if dead:
            await self._dead_letter([e for e in entries if e.id in dead], dead, {})
        await self._ack([e.id for e in entries if e.id not in dead])

    @property
    def _errors_key(self) -> str:
        return LAST_ERRORS_KEY.format(stream=self.consumer.stream)

    async def _note_error(self, entry: Entry, exc: Exception) -> None:
        """Keep why the entry failed, for its dead letter (best effort: it is only a reason)."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(self._errors_key, entry.id, f"{type(exc).__name__}: {exc}"[:500])
                pipe.expire(self._errors_key, _LAST_ERRORS_TTL_S)
                await pipe.execute()
        except Exception:  # Redis down: the dead letter will only lack the reason
            logger.warning("could not note the error of entry=%s", entry.id)

    async def _ack(self, ids: list[str]) -> None:
        if not ids:
            return
        c = self.consumer
        async for attempt in retries.until_stored(patience_s=30):  # else: reclaimed, redone
            with attempt:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.xack(c.stream, c.group, *ids)
                    pipe.xdel(c.stream, *ids)
                    await pipe.execute()
        worker_metrics.STREAM_ENTRIES.labels(c.name, "acked").inc(len(ids))

    async def _dead_letter(
        self, entries: list[Entry], reasons: dict[str, str], deliveries: dict[str, int]
    ) -> None:
        c = self.consumer
        dead = dead_letter_stream(c.stream)
        async with self.redis.pipeline(transaction=True) as pipe:
            for e in entries:
                pipe.xadd(
                    dead,
                    {
                        **e.fields,
                        "source_id": e.id,
                        "error": reasons[e.id][:1000],
                        "deliveries": str(deliveries.get(e.id, 1)),
                        "failed_at": f"{time.time():.3f}",
                    },
                )
                logger.warning(
                    "dead-lettered stream=%s entry=%s reason=%s",
                    c.stream,
                    e.id,
                    reasons[e.id],
                    extra=_entry_fields(c, e),
                )
            pipe.xack(c.stream, c.group, *[e.id for e in entries])
            pipe.xdel(c.stream, *[e.id for e in entries])
            pipe.hdel(self._errors_key, *[e.id for e in entries])
            await pipe.execute()
        worker_metrics.STREAM_ENTRIES.labels(c.name, "dead_lettered").inc(len(entries))

    async def _sleep(self, seconds: float) -> None:
        await sleep_unless_stopped(self.stop, seconds)


def _entry_fields(c: Consumer, e: Entry) -> dict[str, str]:
    """The entry and the ids it names (never a webhook body: it holds message texts)."""
    ids = {k: v for k in ("message_id", "event_id") if (v := e.fields.get(k))}
    return {"stream": c.stream, "entry_id": e.id, **ids}


def _backoff(failures: int, cap_s: float = 30.0) -> float:
    return random.uniform(0.5, 1.0) * min(cap_s, 0.2 * 2 ** min(failures, 10))
