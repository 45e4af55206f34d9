"""The network edge for consumer tests: a real HTTP server that plays Meta or the Hub from a
script, and a real worker context (PostgreSQL, Redis, the worker's HTTP client) around it."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from aiohttp import web
from redis.asyncio import Redis

from consumers.context import Context, build_context, http_session
from core.settings import Settings
from tests.support.settings import VALID

Reply = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON body, headers
OK: Reply = (200, {"messages": [{"id": "wamid.OK"}]}, {})


def meta_error(code: int, status: int = 400, title: str = "error") -> Reply:
    return status, {"error": {"code": code, "message": f"(#{code}) {title}", "type": "OAuth"}}, {}


@dataclass
class Call:
    at: float  # time.monotonic()
    key: str  # Meta: the recipient; Hub: the webhook-id
    body: Any
    status: int
    raw: bytes
    headers: dict[str, str]
    path: str = ""  # Meta: /{version}/{phone_number_id}/messages or .../marketing_messages


@dataclass
class Scripted:
    """Answers each call with the next reply queued for its key (else for "*", else OK)."""

    url: str = ""
    script: dict[str, deque[Reply]] = field(default_factory=lambda: defaultdict(deque))
    calls: list[Call] = field(default_factory=list)
    held: dict[str, asyncio.Event] = field(default_factory=dict)  # key -> answer once set

    def answer(self, key: str, *replies: Reply) -> None:
        self.script[key].extend(replies)

    def keys(self) -> list[str]:
        return [c.key for c in self.calls]

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = orjson.loads(raw)
        key = request.headers.get("webhook-id") or str(body.get("to", ""))
        queue = self.script[key] if self.script.get(key) else self.script["*"]
        status, payload, headers = queue.popleft() if queue else OK
        headers_ = dict(request.headers)
        self.calls.append(Call(time.monotonic(), key, body, status, raw, headers_, request.path))
        if key in self.held:  # taken, as Meta takes a message, and answered only later
            await self.held[key].wait()
        return web.json_response(payload, status=status, headers=headers)


@asynccontextmanager
async def scripted_server() -> AsyncIterator[Scripted]:
    server = Scripted()
    app = web.Application()
    app.router.add_post("/{tail:.*}", server._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


@asynccontextmanager
async def worker_context(
    pool: asyncpg.Pool, redis: Redis, edge: Scripted, **env: str
) -> AsyncIterator[Context]:
    """The context a worker process builds, pointed at the scripted server for Meta and Hub."""
    settings = Settings.from_env(
        {
            **VALID,
            "WHATSAPP_API_BASE_URL": edge.url,
            "HUB_WEBHOOK_URL": f"{edge.url}/events",
            "RETRY_INITIAL_S": "1",
            "HTTP_TIMEOUT_S": "2",
            **env,
        }
    )
    http = http_session(settings)
    ctx = build_context(settings, pool, redis, http)
    await ctx.liveness.register()
    try:
        yield ctx
    finally:
        await ctx.writes.close()
        await http.close()
