"""Real PostgreSQL and Redis for every test; Meta and the Hub played by real HTTP servers.

DATABASE_URL / REDIS_URL are honoured when set; otherwise embedded servers start under
`.data/test`. Each session creates fresh databases (dropped at the end): one for tests that
use the database directly (emptied before each test) and one for the end-to-end stack of
real processes (web, worker, Meta simulator, Hub sink), which runs once per session.

Consumer tests get `ctx`, the context a worker builds, with Meta and the Hub played by
`edge`, a scripted HTTP server (tests/support/edge.py); a module sets the worker's settings
by overriding `worker_env`.

Every test gets one group marker (docs/development.md, "Fast feedback"): `faults` under
tests/faults, `cluster` under tests/cluster, `e2e` under tests/e2e or when it uses the
session `stack` of real processes, `slow` or `e2e` when it says so itself, `unit` otherwise.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

import db
from consumers.context import Context
from db.migrate import migrate
from harness.embedded import DEFAULT_DATA_DIR
from harness.embedded import services as embedded_services
from harness.stack import Stack, new_stack, redis_db_of, with_database, with_redis_db
from tests.support.edge import Scripted, scripted_server, worker_context

ROOT = Path(__file__).resolve().parent.parent
_GROUP_DIRS = {
    "faults": ROOT / "tests" / "faults",
    "e2e": ROOT / "tests" / "e2e",
    "cluster": ROOT / "tests" / "cluster",
}
# Holds no unit test, and schemathesis builds its cases while collecting (~10 s).
_SCHEMATHESIS = ROOT / "tests" / "server" / "test_schemathesis.py"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """`-m unit` (the fast loop) does not even collect what holds no unit test."""
    if config.option.markexpr == "unit" and (
        collection_path in (*_GROUP_DIRS.values(), _SCHEMATHESIS)
    ):
        return True
    return None


# Emptied before each test by DELETE, children first (hub_event_attempts goes with its
# event): on tables of a few rows it takes a millisecond where TRUNCATE, which makes new
# files for every table and index, takes 40-130 ms.
_EMPTY_TABLES = (
    "DELETE FROM hub_events; DELETE FROM message_statuses; DELETE FROM inbound_messages; "
    "DELETE FROM webhook_changes; DELETE FROM held_statuses; DELETE FROM service_windows; "
    "DELETE FROM marketing_preferences; "
    "DELETE FROM messages; DELETE FROM templates; DELETE FROM template_syncs; DELETE FROM contacts"
)


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by them
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each test one group: faults, cluster or e2e by its directory, e2e when it uses
    the `stack` of real processes, else its own `e2e` or `slow` mark, else unit."""
    for item in items:
        group = next((g for g, d in _GROUP_DIRS.items() if item.path.is_relative_to(d)), None)
        if group is None and "stack" in item.fixturenames:
            group = "e2e"
        group = group or next((g for g in ("e2e", "slow") if item.get_closest_marker(g)), "unit")
        if item.get_closest_marker(group) is None:
            item.add_marker(group)


@dataclass
class Services:
    postgres_url: str
    redis_url: str
    handles: list = field(default_factory=list)  # keeps embedded servers alive


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    pg_url, redis_url, handles = embedded_services(DEFAULT_DATA_DIR / "test", dict(os.environ))
    yield Services(pg_url, redis_url, handles)


async def _create_database(server_url: str, name: str) -> str:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = with_database(server_url, name)
    await migrate(url)
    return url


async def _drop_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def database_url(services: Services) -> AsyncIterator[str]:
    name = f"messaging_test_{os.getpid()}"
    url = await _create_database(services.postgres_url, name)
    yield url
    await _drop_database(services.postgres_url, name)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the unit-test database, emptied before each test."""
    p = await db.create_pool(database_url, min_size=1, max_size=4)
    await p.execute(_EMPTY_TABLES)
    yield p
    await p.close()


@pytest.fixture
async def redis(services: Services) -> AsyncIterator[Redis]:
    """The unit-test Redis database, flushed before each test."""
    client = Redis.from_url(services.redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def edge() -> AsyncIterator[Scripted]:
    """A real HTTP server playing Meta and the Hub from a script."""
    async with scripted_server() as server:
        yield server


@pytest.fixture
def worker_env() -> dict[str, str]:
    """Settings of the `ctx` worker beyond the test defaults; modules override this."""
    return {}


@pytest.fixture
async def ctx(
    pool: asyncpg.Pool, redis: Redis, edge: Scripted, worker_env: dict[str, str]
) -> AsyncIterator[Context]:
    """A worker's context on the test database and Redis, calling `edge` for Meta and Hub."""
    async with worker_context(pool, redis, edge, **worker_env) as c:
        yield c


@contextlib.asynccontextmanager
async def running_stack(
    services: Services, name: str, redis_db_offset: int, logs: Path, **overrides: str
) -> AsyncIterator[Stack]:
    """web + worker + Meta simulator + Hub sink as real processes, on a fresh database `name`
    and Redis database `redis_db_offset` after the suite's; `overrides` set their settings."""
    database = await _create_database(services.postgres_url, name)
    redis_db = (redis_db_of(services.redis_url) + redis_db_offset) % 16
    redis_url = with_redis_db(services.redis_url, redis_db)
    r = Redis.from_url(redis_url)
    await r.flushdb()
    await r.aclose()
    s = new_stack(database, redis_url, logs, **overrides)
    s.start_all()
    try:
        await s.wait_until_up()
        yield s
    finally:
        s.stop_all()
        for proc in ("web", "worker"):
            if "Traceback" in s.log(proc):
                print(f"--- {proc} log ---\n{s.log(proc)[-5000:]}")
        await _drop_database(services.postgres_url, name)


@pytest.fixture(scope="session")
async def stack(
    services: Services, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """web + worker + Meta simulator + Hub sink, as real processes, once per session."""
    name = f"messaging_e2e_{os.getpid()}"
    async with running_stack(services, name, 1, tmp_path_factory.mktemp("stack-logs")) as s:
        yield s


def new_recipient() -> str:
    """A unique E.164 number per test, so simulator scenarios never collide."""
    return "49" + str(uuid.uuid4().int)[:11]
