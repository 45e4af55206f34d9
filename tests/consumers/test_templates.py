"""The template catalog sync on real PostgreSQL and Redis, Meta played by the simulator
(served in this event loop): every page is read, a failed page keeps the last whole catalog,
the loop syncs at start and when a status webhook wants it, and never says the token."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg
import httpx
import orjson
import pytest
from redis.asyncio import Redis
from sanic import Sanic

from consumers import templates as sync
from consumers import webhook_processor
from consumers.context import Context
from consumers.runner import Entry
from core.names import TEMPLATE_SYNC_LOCK_KEY, TEMPLATE_SYNC_WANTED_KEY
from db import templates
from harness.stack import free_port
from simulator import meta
from simulator.meta_templates import PAGE_SIZE
from simulator.meta_webhooks import WABA_ID
from simulator.template_catalog import default_catalog
from tests.support.edge import Scripted, worker_context
from tests.support.settings import VALID
from tests.whatsapp.test_notifications import FIXTURES

CATALOG = default_catalog()


@pytest.fixture
async def simulator() -> AsyncIterator[httpx.AsyncClient]:
    """The Meta simulator on a real socket in this event loop, with its default catalog."""
    Sanic.test_mode = True
    port = free_port()
    config = meta.Config(
        "127.0.0.1", port, VALID["WHATSAPP_ACCESS_TOKEN"], "secret", "106540352242922", "", 50, 20
    )
    app = meta.create_app(config, name=f"sim_{port}")
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    assert server is not None
    await server.startup()
    await server.before_start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()


@contextlib.asynccontextmanager
async def worker(
    pool: asyncpg.Pool, redis: Redis, edge: Scripted, sim: httpx.AsyncClient, **env: str
) -> AsyncIterator[Context]:
    settings = {"WHATSAPP_API_BASE_URL": str(sim.base_url).rstrip("/"), **env}
    async with worker_context(pool, redis, edge, **settings) as ctx:
        yield ctx


@pytest.fixture
async def ctx(pool, redis, edge, simulator) -> AsyncIterator[Context]:
    async with worker(pool, redis, edge, simulator, WHATSAPP_BUSINESS_ACCOUNT_ID=WABA_ID) as c:
        yield c


async def stored(pool: asyncpg.Pool) -> dict[tuple[str, str], str]:
    return {(t.name, t.language): t.status for t in await templates.catalog(pool, WABA_ID)}


async def set_status(sim: httpx.AsyncClient, name: str, language: str, status: str) -> None:
    r = await sim.post(
        "/_sim/templates", json={"name": name, "language": language, "status": status}
    )
    assert r.status_code == 200, r.text


async def test_a_sync_reads_every_page(ctx: Context, pool: asyncpg.Pool):
    assert len(CATALOG) > PAGE_SIZE  # Meta's default page leaves a second one
    assert await sync.sync_once(ctx) == len(CATALOG)
    assert await stored(pool) == {(t["name"], t["language"]): t["status"] for t in CATALOG}
    listed = (await templates.catalog(pool, WABA_ID, name="delivery_photo"))[0]
    assert listed.definition["components"][0]["format"] == "IMAGE"


async def test_a_failed_page_keeps_the_last_whole_catalog(ctx, pool, simulator, caplog):
    await sync.sync_once(ctx)
    await set_status(simulator, "order_update", "en_US", "PAUSED")
    faults = {"responses": [{"ok": True}, {"status": 500}]}  # the second page fails
    assert (await simulator.post("/_sim/templates/faults", json=faults)).status_code == 200
    with caplog.at_level(logging.WARNING, logger="consumers.templates"):
        assert not await sync._sync_logged(ctx)
    assert "template sync failed, the catalog is kept" in caplog.text
    assert (await stored(pool))[("order_update", "en_US")] == "APPROVED"  # nothing wiped
    assert await sync._sync_logged(ctx)  # Meta is back: the next sync takes the change
    assert (await stored(pool))[("order_update", "en_US")] == "PAUSED"
    assert len(await stored(pool)) == len(CATALOG)


async def test_a_refused_token_is_logged_never_said(pool, redis, edge, simulator, caplog):
    token = "EAAG-wrong-token-that-must-not-leak"
    env = {"WHATSAPP_BUSINESS_ACCOUNT_ID": WABA_ID, "WHATSAPP_ACCESS_TOKEN": token}
    async with worker(pool, redis, edge, simulator, **env) as ctx:
        with caplog.at_level(logging.DEBUG):
            assert not await sync._sync_logged(ctx)
    assert "190" in caplog.text  # Meta's code for a bad token
    assert token not in caplog.text
    assert await templates.last_sync(pool, WABA_ID) is None


@pytest.mark.slow
async def test_the_loop_syncs_at_start_and_when_a_status_webhook_wants_it(
    ctx: Context, pool: asyncpg.Pool, redis: Redis, simulator: httpx.AsyncClient
):
    stop = asyncio.Event()
    first = asyncio.create_task(sync.run(ctx, stop))
    try:
        started = await until(lambda: templates.last_sync(pool, WABA_ID))  # at start
        assert not await redis.exists(TEMPLATE_SYNC_LOCK_KEY)  # held only while syncing
        second = asyncio.create_task(sync.run(ctx, stop))  # another replica starts
        await asyncio.sleep(1.5)
        assert await templates.last_sync(pool, WABA_ID) == started  # fresh: not synced again
        await set_status(simulator, "spring_sale", "de", "APPROVED")
        entry = Entry("1-0", {"body": (FIXTURES / "template_status_update.json").read_text()})
        assert await webhook_processor.handle(ctx, [entry]) == {}
        event = await pool.fetchval("SELECT type FROM hub_events")
        assert event == "whatsapp.message_template_status_update"  # still forwarded as today

        async def resynced() -> bool:
            return (await stored(pool)).get(("spring_sale", "de")) == "APPROVED"

        await until(resynced)
        assert not await redis.exists(TEMPLATE_SYNC_WANTED_KEY)  # taken by one of them
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(first, second), 5)


@pytest.mark.slow
async def test_a_sync_failing_at_start_is_tried_again_within_seconds(ctx, pool, simulator):
    faults = {"responses": [{"status": 503}, {"status": 500}]}  # Meta down at first
    assert (await simulator.post("/_sim/templates/faults", json=faults)).status_code == 200
    stop = asyncio.Event()
    task = asyncio.create_task(sync.run(ctx, stop))
    try:
        sync_row = await until(lambda: templates.last_sync(pool, WABA_ID), timeout_s=6)
        assert sync_row.templates == len(CATALOG)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_without_a_waba_id_nothing_is_synced_or_wanted(pool, redis, edge, simulator):
    async with worker(pool, redis, edge, simulator) as ctx:
        stop = asyncio.Event()
        task = asyncio.create_task(sync.run(ctx, stop))
        payload = orjson.loads((FIXTURES / "template_status_update.json").read_bytes())
        entry = Entry("1-0", {"body": orjson.dumps(payload).decode()})
        assert await webhook_processor.handle(ctx, [entry]) == {}
        await asyncio.sleep(0.2)
        assert not task.done()  # waits for the stop, like every worker task
        stop.set()
        await asyncio.wait_for(task, 5)
    assert await templates.last_sync(pool, WABA_ID) is None
    assert not await redis.exists(TEMPLATE_SYNC_WANTED_KEY)


async def until(probe, timeout_s: float = 10):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not (found := await probe()):
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
    return found
