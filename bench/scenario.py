"""What a benchmark scenario works with: fresh stack, load runs with progress, usage, result."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import asyncpg

from bench.load import LoadResult, Target
from bench.load import run as run_load
from bench.procs import Usage, load_average, serving, tree_of
from core import broker
from db.migrate import migrate
from harness.cluster import Cluster
from harness.embedded import DEFAULT_DATA_DIR, services
from harness.stack import Stack, new_stack, wait_until_up, with_database

DATABASE = "messaging_bench"
_UP_PATHS = {"web": "/ping/", "sim": "/_sim/stats", "sink": "/_sink/stats"}


@dataclass
class Result:
    """One scenario's outcome. `rows` are the report's table lines: metric, value, target."""

    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    processes: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def row(self, metric: str, value: str, target: str = "", met: bool | None = None) -> None:
        self.rows.append({"metric": metric, "value": value, "target": target, "met": met})

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__


@contextlib.asynccontextmanager
async def running_services(redis_cluster: bool = False) -> AsyncIterator[tuple[str, str]]:
    """(PostgreSQL server URL, Redis URL) for the whole run; embedded ones stop at the end.
    `redis_cluster`: a 6-node Redis Cluster of the system's redis-server (harness.cluster)
    instead, unless REDIS_URL names one (then REDIS_CLUSTER=true says it is a cluster)."""
    with _one_run_at_a_time():
        environ = dict(os.environ)
        cluster = Cluster.start() if redis_cluster and not environ.get("REDIS_URL") else None
        if cluster is not None:
            environ["REDIS_URL"] = cluster.url
        pg, redis_url, handles = services(DEFAULT_DATA_DIR / "bench", environ)
        try:
            yield pg, redis_url
        finally:
            handles.clear()
            if cluster is not None:
                cluster.stop()


@contextlib.contextmanager
def _one_run_at_a_time() -> Iterator[None]:
    """Two runs would share the bench database and Redis and consume each other's streams
    (and share the cores): the second one stops with a clear message instead."""
    path = Path(tempfile.gettempdir()) / "messaging-bench.lock"
    with path.open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise SystemExit(
                f"another benchmark is running (pid {lock.read().strip() or '?'}; lock {path})"
            ) from None
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        yield


class Bench:
    """One scenario's run: `start()` the processes it needs, `load()`, `usage`, `close()`."""

    def __init__(self, args: argparse.Namespace, server_url: str, redis_url: str) -> None:
        self.args = args
        self.server_url = server_url
        self.redis_url = redis_url
        self.database_url = with_database(server_url, DATABASE)
        self.stack: Stack | None = None
        self.cluster = bool(getattr(args, "redis_cluster", False))
        self.redis_ports: list[int] = []
        self.redis = broker.connect(redis_url, cluster=self.cluster)

    async def start(self, *procs: str, **env: str) -> Stack:
        """Fresh database and Redis, then `procs` (of web, worker, sim, sink), up and ready."""
        admin = await asyncpg.connect(self.server_url)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            await admin.execute(f"CREATE DATABASE {DATABASE}")
        finally:
            await admin.close()
        await migrate(self.database_url)
        await self.redis.flushdb()
        if self.cluster:  # every node, replicas too (the client itself knows the masters)
            nodes = await self.redis.cluster_nodes()
            self.redis_ports = [int(re.search(r":(\d+)", a)[1]) for a in nodes]  # type: ignore[index]
        settings = dict(a.split("=", 1) for a in self.args.env)
        if self.cluster:
            settings.setdefault("REDIS_CLUSTER", "true")
        if query := getattr(self.args, "redis_url_query", ""):
            # e.g. max_connections=1000: redis-py reads pool options from the URL
            sep = "&" if "?" in self.redis_url else "?"
            settings.setdefault("REDIS_URL", f"{self.redis_url}{sep}{query}")
        self.stack = new_stack(
            self.database_url,
            self.redis_url,
            Path(tempfile.mkdtemp(prefix="bench-")),
            **{
                "LOG_LEVEL": "WARNING",
                "WEB_WORKERS": str(self.args.web_workers),
                **env,
                **settings,
            },
        )
        for name in procs:
            await self.add(name)
        return self.stack

    async def add(self, name: str, **env: str) -> None:
        """Start one more process of the stack and wait until it answers; `worker2` (any
        name starting with `worker`) is one more worker replica."""
        assert self.stack is not None
        module = {"web": "server", "sim": "simulator.meta", "sink": "simulator.hub"}
        self.stack.start(
            name, "-m", "consumers" if name.startswith("worker") else module[name], **env
        )
        if name in _UP_PATHS:
            base = {"web": self.stack.api, "sim": self.stack.sim, "sink": self.stack.sink}[name]
            await wait_until_up(f"{base}{_UP_PATHS[name]}")

    def usage(self) -> Usage:
        assert self.stack is not None
        groups = {name: tree_of(proc.pid) for name, proc in self.stack.procs.items()}
        pg_socket = dict(parse_qsl(urlsplit(self.server_url).query)).get("host", "")
        redis_socket = urlsplit(self.redis_url).path if self.redis_url.startswith("unix") else ""
        # A cluster node's process title names its address.
        nodes = [f":{port} " for port in self.redis_ports]
        redis = [serving("redis-server", needle) for needle in nodes or [redis_socket]]
        return Usage(
            {
                **groups,
                "postgres": serving("postgres", pg_socket),
                "redis": lambda procs: set().union(*(found(procs) for found in redis)),
            }
        )

    async def load(
        self, label: str, target: Target, seconds: float, progress: Callable[[], Awaitable[int]]
    ) -> LoadResult:
        """One load run, printing `progress()` (a count the service reached) every second."""
        print(f"{label}: {self.args.connections} connections for {seconds:.0f}s", flush=True)
        task = asyncio.ensure_future(
            run_load(self.args.load, target, self.args.connections, seconds, self.args.wrk_threads)
        )
        last, last_t = await progress(), time.perf_counter()
        while not task.done():
            await asyncio.wait([task], timeout=1.0)
            value, now = await progress(), time.perf_counter()
            rate = (value - last) / (now - last_t)
            print(f"  {label}: {value:,} so far, {rate:,.0f}/s", flush=True)
            last, last_t = value, now
        return task.result()

    async def measured_load(
        self, result: Result, label: str, target: Target, stream: str, rate: float, p99_ms: float
    ) -> tuple[LoadResult, LoadResult]:
        """A 2 s warm-up, then the measured run (progress: `stream`'s length), whose figures
        against the targets, CPU and RSS go into `result`. Returns (warm-up, measured)."""

        async def progress() -> int:
            return await self.redis.xlen(stream)

        warm = await self.load("warm-up", target, 2, progress)
        usage = self.usage()
        usage.start()
        load = await self.load(label, target, self.args.seconds, progress)
        result.processes = usage.stop()
        cpu = load.extra["cpu_percent"]
        result.processes["load generator"] = {"processes": 1, "cpu_percent": cpu, "rss_mb": ""}
        await asyncio.sleep(1)  # requests in flight when the generator stopped finish
        load_row(result, label, load, rate, p99_ms)
        _cpu_row(result, label, load)
        return warm, load

    async def fetch_count(self, sql: str) -> int:
        conn = await asyncpg.connect(self.database_url)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    async def close(self) -> None:
        if self.stack is not None:
            self.stack.stop_all()
        await self.redis.aclose()


async def wait_for(
    probe: Callable[[], Awaitable[int]], target: int, label: str, timeout_s: float
) -> float:
    """Seconds until `probe()` reaches `target`; prints progress; TimeoutError after that."""
    start = time.perf_counter()
    last = -1
    while (value := await probe()) < target:
        if time.perf_counter() - start > timeout_s:
            raise TimeoutError(f"{label}: {value}/{target} after {timeout_s}s")
        if value != last:
            print(f"  {label}: {value:,}/{target:,}", flush=True)
            last = value
        await asyncio.sleep(0.5)
    return time.perf_counter() - start


def load_row(result: Result, label: str, load: LoadResult, rate: float, p99_ms: float) -> None:
    """The standard line of a load run, with its throughput and p99 targets."""
    met = load.requests_per_s >= rate and load.p99_ms <= p99_ms and load.non_2xx == 0
    result.row(
        label,
        f"{load.requests_per_s:,.0f} req/s, p50 {load.p50_ms:.1f} ms, p95 {load.p95_ms:.1f} ms, "
        f"p99 {load.p99_ms:.1f} ms, non-2xx {load.non_2xx}, "
        f"conn errors {load.connection_errors}",
        f">= {rate:,.0f} req/s, p99 <= {p99_ms:g} ms",
        met,
    )
    result.details[label] = {**load.as_dict(), "load_average": load_average()}


def _cpu_row(result: Result, label: str, load: LoadResult) -> None:
    """CPU time per request: what the figures would be on idle cores, as the machine (and
    other work on it) changes req/s from run to run far more than this."""
    if not load.requests_per_s:
        return
    per_request = {
        name: u["cpu_percent"] / 100 / load.requests_per_s * 1e6
        for name, u in result.processes.items()
    }
    total = sum(per_request.values())
    result.row(
        f"{label}: CPU per request",
        ", ".join(f"{name} {us:.0f} µs" for name, us in per_request.items() if us >= 1)
        + f"; total {total:.0f} µs = {2e6 / total:,.0f} req/s on 2 idle cores",
    )
    result.details[f"{label}: cpu_us_per_request"] = per_request
