"""`python -m server` with WEB_WORKERS=2 (forked workers, as the benchmark and Railway sizing
use it): both kinds of request are served, and SIGTERM stops every process cleanly."""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import httpx
import orjson
import pytest
from redis.asyncio import Redis

from harness.stack import Stack, new_stack, wait_until_up
from simulator.meta_webhooks import sign
from tests.conftest import Services
from tests.support.settings import WEBHOOKS_STREAM

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]  # the web as a real process


async def test_two_forked_workers_serve_and_stop_on_sigterm(
    database_url: str,
    services: Services,
    pool: asyncpg.Pool,
    redis: Redis,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    stack = new_stack(
        database_url, services.redis_url, tmp_path_factory.mktemp("web-workers"), WEB_WORKERS="2"
    )
    stack.start("web", "-m", "server")
    try:
        await wait_until_up(f"{stack.api}/ping/")
        await _all_workers_started(stack)
        body = {"to": "+4915112345678", "type": "text", "text": {"body": "hi"}}
        webhook = b'{"object": "whatsapp_business_account", "entry": []}'
        secret = stack.env["WHATSAPP_APP_SECRET"]
        async with httpx.AsyncClient(base_url=stack.api, timeout=10) as client:
            sends = await asyncio.gather(
                *(
                    client.post(
                        "/api/v1/messages/send/",
                        content=orjson.dumps(body),
                        headers=stack.headers(),
                    )
                    for _ in range(20)
                )
            )
            hook = await client.post(
                "/webhooks/whatsapp/",
                content=webhook,
                headers={"X-Hub-Signature-256": sign(secret, webhook)},
            )
        assert [r.status_code for r in sends] == [202] * 20
        assert hook.status_code == 200
        assert await pool.fetchval("SELECT count(*) FROM messages") == 20
        assert await redis.xlen(WEBHOOKS_STREAM) == 1
    finally:
        code = stack.stop("web", signal.SIGTERM)
    assert code == 0, stack.log("web")[-3000:]
    assert "Traceback" not in stack.log("web"), stack.log("web")[-3000:]
    lines = [orjson.loads(x) for x in stack.log("web").splitlines() if x.startswith("{")]
    paths = [x["path"] for x in lines if x["logger"] == "sanic.access"]
    # LOG_LEVEL=INFO: one access line per request
    assert (paths.count("/api/v1/messages/send/"), paths.count("/webhooks/whatsapp/")) == (20, 1)


async def _all_workers_started(stack: Stack, workers: int = 2) -> None:
    """One worker answering is not all of them. Sanic's main process hangs for good if
    SIGTERM arrives while it still waits for a worker's startup ack (sanic 25.12: its ack
    loop re-sends the shutdown message to itself), so stop only after every worker has
    logged its start and had time to ack (right after opening its pools)."""
    for _ in range(100):
        if stack.log("web").count("Starting worker") >= workers:
            await asyncio.sleep(1.0)
            return
        await asyncio.sleep(0.1)
    raise AssertionError(stack.log("web")[-3000:])
