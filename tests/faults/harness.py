"""The fault suite's stack and load: every process real, every timing short.

`FaultStack` is the usual stack (web, worker, Meta simulator, Hub sink) on a fresh database
of the suite's own PostgreSQL and Redis servers, which a test may stop and restart. `burst()`
plays the Hub sending messages: each with its own Idempotency-Key, retried on 503 and on
connection errors as the README tells the Hub to, every answer counted.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from redis.asyncio import Redis

from db.migrate import migrate
from harness.faults import Servers
from harness.stack import Stack, new_stack
from tests.e2e.test_loop import eventually

# Short timings so outages of seconds exercise the same paths as outages of hours. Settings
# that main does not know yet (the lead's rate limiter and retry schedule) are harmless.
FAULT_ENV = {
    "SEND_RATE_PER_S": "1000",  # the limiter is not under test here; its outcome is
    "SEND_MAX_ATTEMPTS": "10",
    "RETRY_INITIAL_S": "0.1",  # Meta retries: 0.1, 0.2, 0.4, 0.8, 1, 1 ... (about 7 s)
    "RETRY_MAX_S": "1",
    "RETRY_POLL_S": "0.1",
    "SEND_PAUSE_S": "1",
    "PAIR_RATE_LIMIT_S": "0.5",
    "HUB_MAX_ATTEMPTS": "20",
    "HUB_RETRY_SCHEDULE_S": ",".join(["0.2", "0.5"] + ["1"] * 18),
    "HUB_GONE_PAUSE_S": "1",
    "HTTP_TIMEOUT_S": "5",
    "SHUTDOWN_TIMEOUT_S": "3",
    # Longer than a message's Meta retries (about 7 s), so only a crash leaves one `sending`.
    "SEND_OUTCOME_TIMEOUT_S": "15",
}
BURST = 500


@dataclass
class FaultStack:
    """The processes of one test, its database, and clients for what the test inspects."""

    servers: Servers
    database: str
    stack: Stack
    http: httpx.AsyncClient
    ready_at: float = 0.0  # monotonic, once every process is up

    @property
    def database_url(self) -> str:
        return self.servers.postgres.url(self.database)

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """One query on a connection of its own (a pool would not survive a restart)."""
        conn = await asyncpg.connect(self.database_url)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    async def redis(self, *command: Any) -> Any:
        client = Redis.from_url(self.servers.redis.url(), decode_responses=True)
        try:
            return await client.execute_command(*command)
        finally:
            await client.aclose()

    async def worker_started(self, name: str, timeout_s: float = 20) -> None:
        """Wait for a worker's consumers to run (wait_until_up checks only HTTP servers)."""

        async def started() -> bool:
            return "worker started" in self.stack.log(name)

        await eventually(started, timeout_s)

    async def sim_stats(self) -> dict[str, Any]:
        return (await self.http.get(f"{self.stack.sim}/_sim/stats")).json()

    async def sim_calls(self) -> list[dict[str, Any]]:
        url = f"{self.stack.sim}/_sim/messages"
        return (await self.http.get(url, params={"limit": 100_000})).json()["messages"]

    async def sink_stats(self) -> dict[str, Any]:
        return (await self.http.get(f"{self.stack.sink}/_sink/stats")).json()

    async def sink_events(self) -> list[dict[str, Any]]:
        return (await self.http.get(f"{self.stack.sink}/_sink/events")).json()["events"]

    async def scenario(self, **body: Any) -> None:
        r = await self.http.post(f"{self.stack.sim}/_sim/scenarios", json=body)
        assert r.status_code == 200, r.text

    async def hub_fails(self, **body: Any) -> None:
        r = await self.http.post(f"{self.stack.sink}/_sink/fail", json=body)
        assert r.status_code == 200, r.text


async def start_fault_stack(
    servers: Servers, name: str, logs: Path, **env: str
) -> tuple[FaultStack, Callable[[], Awaitable[None]]]:
    """A fresh database and Redis, the four processes up; returns it and its teardown."""
    admin = await asyncpg.connect(servers.postgres.url())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    await migrate(servers.postgres.url(name))
    flush = Redis.from_url(servers.redis.url())
    await flush.flushall()
    await flush.aclose()

    stack = new_stack(servers.postgres.url(name), servers.redis.url(), logs, **{**FAULT_ENV, **env})
    stack.start_all()
    http = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64))
    fs = FaultStack(servers, name, stack, http)

    async def teardown() -> None:
        stack.stop_all()
        await http.aclose()
        for proc in ("web", "worker", "worker2"):
            path = logs / f"{proc}.log"
            if path.exists() and "Traceback" in path.read_text(errors="replace"):
                print(f"--- {proc} log (tail) ---\n{stack.log(proc)[-4000:]}")
        admin = await asyncpg.connect(servers.postgres.url())
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    try:
        await stack.wait_until_up()
        await fs.worker_started("worker")
        fs.ready_at = time.monotonic()
    except BaseException:
        await teardown()
        raise
    return fs, teardown


@dataclass
class Sent:
    """What the driver saw, updated live: accepted ids by index, and every answer."""

    ids: dict[int, str] = field(default_factory=dict)
    codes: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)  # answers other than 202 and 503
    gave_up: int = 0

    @property
    def accepted(self) -> list[str]:
        return [self.ids[i] for i in sorted(self.ids)]


def recipient(run: int, i: int) -> str:
    """A distinct E.164 number per message of a run (13 digits)."""
    return f"4915{run:03d}{i:06d}"


async def burst(
    fs: FaultStack,
    count: int = BURST,
    *,
    spread_s: float = 0.0,
    concurrency: int = 32,
    give_up_s: float = 60,
    sent: Sent | None = None,
) -> Sent:
    """Send `count` messages, starting them evenly over `spread_s`; 503s are retried."""
    sent = sent or Sent()
    run = random.randrange(1000)
    limit = asyncio.Semaphore(concurrency)
    url = f"{fs.stack.api}/api/v1/messages/send/"
    t0 = time.monotonic()

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, t0 + i * spread_s / count - time.monotonic()))
        body = orjson.dumps(
            {
                "to": "+" + recipient(run, i),
                "type": "text",
                "text": {"body": f"fault run {run} message {i}"},
                "metadata": {"run": run, "i": i},
            }
        )
        headers = fs.stack.headers(**{"Idempotency-Key": f"faults-{run}-{i}"})
        deadline = time.monotonic() + give_up_s
        while time.monotonic() < deadline:
            async with limit:
                try:
                    r = await fs.http.post(url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    sent.codes[type(exc).__name__] += 1
                    r = None
            if r is not None:
                sent.codes[str(r.status_code)] += 1
                if r.status_code == 202:
                    sent.ids[i] = r.json()["id"]
                    return
                if r.status_code != 503 or r.json()["error"]["code"] != "unavailable":
                    sent.unexpected.append(f"{r.status_code} {r.text[:300]}")
            await asyncio.sleep(0.1)
        sent.gave_up += 1

    await asyncio.gather(*(one(i) for i in range(count)))
    return sent


async def burst_with_fault(
    fs: FaultStack,
    fault: Callable[[Sent], Awaitable[Any]],
    *,
    after_meta_accepted: int = 0,
    after_accepted: int = 0,
    spread_s: float = 2.0,
    count: int = BURST,
) -> tuple[Sent, Any]:
    """A burst with `fault(sent)` injected once Meta accepted (or the API accepted) enough
    messages, so the fault hits traffic in flight however slow the machine is."""
    sent = Sent()
    sending = asyncio.create_task(burst(fs, count, spread_s=spread_s, sent=sent))

    async def reached() -> bool:
        if len(sent.ids) < after_accepted and not sending.done():
            return False
        return (await fs.sim_stats())["accepted"] >= after_meta_accepted

    await eventually(reached, 60)
    if after_accepted:  # the fault is for the send API: it must still be sending
        assert not sending.done(), "the burst ended before the fault could be injected"
    result = await fault(sent)
    await sending
    return sent, result
