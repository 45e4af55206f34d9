"""The worker process: shared resources, one runner per consumer, the sweeper and the retention
purge, signals.

Shutdown has an order: SIGTERM stops reading; in-flight batches get SHUTDOWN_TIMEOUT_S to
finish (the sender hands back messages it has not sent; what does not finish is never acked:
XAUTOCLAIM recovers it); resources close last. A loop that ends on its own stops the worker
with exit code 1, so the platform restarts it instead of leaving a half-worker running.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from typing import Any

import asyncpg

from consumers import retention, scheduler, sweeper, templates, worker_metrics
from consumers.context import Context, close_context, open_context
from consumers.periodic import sleep_unless_stopped
from consumers.runner import Consumer, Runner
from core.heartbeats import role_of
from core.settings import Settings

logger = logging.getLogger("consumers.worker")


def runners(ctx: Context, consumers: Sequence[Consumer], stop: asyncio.Event) -> list[Runner]:
    """One runner per consumer, each named after the worker (the name its heartbeat has)."""
    s = ctx.settings
    return [
        Runner(
            c,
            ctx,
            ctx.liveness.worker_id,
            stop,
            batch_size=c.batch_size or s.stream_batch_size,
            batches_in_flight=c.batches_in_flight or s.stream_batches_in_flight,
            block_ms=s.stream_block_ms,
            idle_timeout_s=s.stream_idle_timeout_s,
            max_deliveries=s.stream_max_deliveries,
        )
        for c in consumers
    ]


async def run(settings: Settings, consumers: Sequence[Consumer], sweep: bool = True) -> int:
    """Run until SIGTERM or SIGINT; the exit code is 1 if a loop died on its own."""
    failed = False
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ctx = await _open_with_retry(settings, stop)
    if ctx is None:
        return 0
    tasks: list[asyncio.Task[Any]] = []
    await ctx.liveness.serve(tuple(r for c in consumers if (r := role_of(c.stream))))
    beating = asyncio.create_task(ctx.liveness.beat(), name="heartbeat")  # until close_context
    metrics_server = await worker_metrics.start_server(settings)
    try:
        group = runners(ctx, consumers, stop)
        for r in group:
            await r.ensure_group()
        tasks = [asyncio.create_task(r.run(), name=r.consumer.name) for r in group]
        tasks.append(asyncio.create_task(scheduler.run(ctx, stop), name="scheduler"))
        tasks.append(asyncio.create_task(templates.run(ctx, stop), name="templates"))
        if sweep:
            tasks.append(asyncio.create_task(sweeper.run(ctx, stop), name="sweeper"))
            tasks.append(asyncio.create_task(retention.run(ctx, stop), name="retention"))
        logger.info(
            "worker started consumers=%s sweeper=%s", ",".join(c.name for c in consumers), sweep
        )
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
        if stopping not in done:  # a loop ended on its own: never keep a half-worker running
            died = [t.get_name() for t in done]
            logger.error("worker task(s) ended unexpectedly: %s; stopping", ",".join(died))
            failed = True
            stop.set()
        logger.info(
            "worker stopping: finishing in-flight batches (up to %.0fs)",
            settings.shutdown_timeout_s,
        )
        _, late = await asyncio.wait(tasks, timeout=settings.shutdown_timeout_s)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        logger.info("worker stopped cleanly=%s", not late and not failed)
    finally:
        await worker_metrics.stop_server(metrics_server)
        await close_context(ctx)
        await beating
    return 1 if failed else 0


async def _open_with_retry(settings: Settings, stop: asyncio.Event) -> Context | None:
    """Start even if PostgreSQL or Redis is not up yet (deploy order is not guaranteed)."""
    delay = 0.5
    while not stop.is_set():
        try:
            ctx = await open_context(settings, stop)
            await ctx.redis.ping()
            return ctx
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            logger.warning(
                "worker waiting for dependencies (%s); retry in %.1fs", type(exc).__name__, delay
            )
        except Exception as exc:  # redis errors subclass neither
            logger.warning(
                "worker waiting for dependencies (%s); retry in %.1fs", type(exc).__name__, delay
            )
        await sleep_unless_stopped(stop, delay)
        delay = min(delay * 2, 30)
    return None
