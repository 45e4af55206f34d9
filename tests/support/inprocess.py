"""The web app served in-process, on a real socket in the test's event loop: for tests of
concurrent requests (sanic-testing's ASGI client runs the app's start-up for every request,
so concurrent requests would not share its pool, Redis client and batchers)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from sanic import Sanic

from core.settings import Settings
from harness.stack import stack_env
from server.app import create_app

Served = tuple[httpx.AsyncClient, dict[str, str]]


@contextlib.asynccontextmanager
async def serving(database_url: str, redis_url: str, **extra: str) -> AsyncIterator[Served]:
    """The app on a real socket in this event loop: (an HTTP client for it, its settings)."""
    Sanic.test_mode = True  # one app per test: no name clashes in Sanic's registry
    env = {**stack_env(database_url, redis_url), **extra}
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level  # create_app adds one on this stderr
    app = create_app(Settings.from_env(env), name=f"inprocess_{env['PORT']}")
    server = await app.create_server(
        host="127.0.0.1", port=int(env["PORT"]), return_asyncio_server=True, access_log=False
    )
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    headers = {"Api-Key": env["MESSAGING_SERVICE_API_KEY"].split(",")[0]}
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{env['PORT']}",
            headers=headers,
            limits=httpx.Limits(max_connections=100),
        ) as client:
            yield client, env
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()
        root.handlers[:], root.level = handlers, level
