"""A TCP proxy in front of the test Redis that breaks XADD the ways a network can.

Faults (armed with `fault`), on the first XADD that passes through:
- `"hold"`: the XADD never reaches Redis; the connection is held open until `hold()`
  returns, then cut (a Redis that hangs, then drops us).
- `"drop_reply"`: the XADD reaches Redis and lands, its reply is swallowed, `after_landed()`
  runs, then the connection is cut (a timeout after the write).
After a fault every new connection is cut at once, so the client's own retry fails too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlsplit


async def _nothing() -> None:
    return None


class RedisProxy:
    def __init__(self, upstream_url: str) -> None:
        self.upstream = urlsplit(upstream_url)
        self.fault: str | None = None
        self.hold: Callable[[], Awaitable[None]] = _nothing
        self.after_landed: Callable[[], Awaitable[None]] = _nothing
        self.broken = False
        self.url = ""
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        """Listen on a free port; returns a `redis://` URL for the same database."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        if self.upstream.scheme == "unix":
            db = dict(parse_qsl(self.upstream.query)).get("db", "0")
        else:
            db = self.upstream.path.strip("/") or "0"
        self.url = f"redis://127.0.0.1:{port}/{db}"
        return self.url

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.upstream.scheme == "unix":
            return await asyncio.open_unix_connection(self.upstream.path)
        return await asyncio.open_connection(self.upstream.hostname, self.upstream.port or 6379)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.broken:
            client_w.close()
            return
        up_r, up_w = await self._open_upstream()
        landed = asyncio.Event()
        swallow = False

        async def replies() -> None:
            while data := await up_r.read(65536):
                if swallow:
                    landed.set()
                    continue
                client_w.write(data)
                await client_w.drain()

        pump = asyncio.create_task(replies())
        try:
            while data := await client_r.read(65536):
                if self.fault and b"XADD" in data.upper():
                    self.broken = True
                    if self.fault == "hold":
                        await self.hold()
                    else:
                        swallow = True
                        up_w.write(data)
                        await up_w.drain()
                        await landed.wait()
                        await self.after_landed()
                    return
                up_w.write(data)
                await up_w.drain()
        finally:
            pump.cancel()
            client_w.close()
            up_w.close()
