"""Fixtures of the cluster tests: one Redis Cluster (6 system redis-servers: 3 masters, 3
replicas) for the session, and a fresh stack of real processes on it per test.

They skip, saying why, only where /usr/bin/redis-server or redis-cli is missing.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from core import broker
from harness.cluster import Cluster, missing
from harness.stack import new_stack
from tests.conftest import Services, _create_database, _drop_database
from tests.faults.harness import FAULT_ENV, FaultStack


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    if reason := missing():
        pytest.skip(reason)
    c = Cluster.start()
    try:
        yield c
    finally:
        c.stop()


@dataclass
class ClusterStack(FaultStack):
    """The fault suite's stack, on the cluster: `redis()` asks it with the cluster client."""

    cluster: Cluster | None = None

    @property
    def database_url(self) -> str:
        return self.database

    async def redis(self, *command: Any) -> Any:
        assert self.cluster is not None
        client = broker.connect(self.cluster.urls[0], cluster=True)
        try:
            return await client.execute_command(*command)
        finally:
            await client.aclose()


@pytest.fixture
async def make_stack(
    cluster: Cluster,
    services: Services,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Callable[..., Awaitable[ClusterStack]]]:
    """`await make_stack(**env)`: web, worker, simulator and sink on the emptied cluster and
    a fresh database, with the fault suite's short timings."""
    made: list[ClusterStack] = []
    name = "cluster_" + re.sub(r"\W", "_", request.node.name)[:40].lower()

    async def make(**env: str) -> ClusterStack:
        database = await _create_database(services.postgres_url, name)
        client = broker.connect(cluster.urls[0], cluster=True)
        await client.flushall()
        await client.aclose()
        settings = {**FAULT_ENV, "REDIS_CLUSTER": "true", **env}
        stack = new_stack(database, cluster.urls[0], tmp_path_factory.mktemp(name), **settings)
        fs = ClusterStack(None, database, stack, httpx.AsyncClient(timeout=30), cluster=cluster)  # type: ignore[arg-type]
        made.append(fs)
        stack.start_all()
        await stack.wait_until_up()
        await fs.worker_started("worker")
        fs.ready_at = time.monotonic()
        return fs

    yield make
    for fs in made:
        fs.stack.stop_all()
        await fs.http.aclose()
        for proc in ("web", "worker"):
            if "Traceback" in fs.stack.log(proc):
                print(f"--- {proc} log (tail) ---\n{fs.stack.log(proc)[-4000:]}")
        await _drop_database(services.postgres_url, name)
