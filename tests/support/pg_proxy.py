"""A TCP proxy in front of PostgreSQL that loses or withholds the reply of one statement.

`arm(needle, fault)`: the next statement prepared with `needle` in its text is run by
PostgreSQL (and committed, if it was on its own); then the reply of that run:
- `"drop"`: is swallowed and the connection cut once PostgreSQL says it is ready again (a
  reply lost after the commit: a dropped connection, a timeout);
- `"hold"`: never comes: the connection stays open and silent until `close()`.
`fired` is set once PostgreSQL is done with the statement. Every other statement and
connection passes untouched.

The client must not ask for TLS (`?sslmode=disable`, added by `start`): the proxy reads
PostgreSQL's messages (a type byte and a length) to find the statement's reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from urllib.parse import parse_qsl, urlsplit, urlunsplit

_PARSE, _BIND, _BIND_COMPLETE, _READY = b"P", b"B", b"2", b"Z"


class PgProxy:
    def __init__(self, upstream_url: str) -> None:
        self.upstream = urlsplit(upstream_url)
        self.needle: bytes | None = None
        self.fault = ""
        self.fired = asyncio.Event()
        self.url = ""
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def arm(self, needle: str, fault: str) -> None:
        assert fault in ("drop", "hold")
        self.needle, self.fault = needle.encode(), fault
        self.fired.clear()

    async def start(self) -> str:
        """Listen on a free port; returns a URL for the same database through the proxy."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        query = dict(parse_qsl(self.upstream.query))
        user = self.upstream.username or query.get("user", "postgres")
        database = self.upstream.path.strip("/") or query.get("dbname", "postgres")
        self.url = urlunsplit(
            ("postgresql", f"{user}@127.0.0.1:{port}", f"/{database}", "sslmode=disable", "")
        )
        return self.url

    async def close(self) -> None:
        for w in list(self._writers):
            w.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host = dict(parse_qsl(self.upstream.query)).get("host") or self.upstream.hostname
        port = self.upstream.port or 5432
        if host and host.startswith("/"):
            return await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
        return await asyncio.open_connection(host or "127.0.0.1", port)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await self._open_upstream()
        self._writers |= {client_w, up_w}
        seen = asyncio.Event()  # this connection's client runs the armed statement

        async def to_server() -> None:
            statement = None  # the armed statement's name, once the client prepares it
            startup = await client_r.readexactly(4)  # the one message without a type byte
            startup += await client_r.readexactly(struct.unpack("!I", startup)[0] - 4)
            up_w.write(startup)
            while True:
                header = await client_r.readexactly(5)
                body = await client_r.readexactly(struct.unpack("!I", header[1:])[0] - 4)
                kind = header[:1]
                if kind == _PARSE and self.needle and self.needle in body:
                    statement, self.needle = body.split(b"\0", 1)[0], None
                elif kind == _BIND and statement is not None:
                    if body.split(b"\0", 2)[1] == statement:  # portal, statement, ...
                        seen.set()
                up_w.write(header + body)
                await up_w.drain()

        async def to_client() -> None:
            faulting = False
            while True:
                header = await up_r.readexactly(5)
                body = await up_r.readexactly(struct.unpack("!I", header[1:])[0] - 4)
                kind = header[:1]
                faulting = faulting or (seen.is_set() and kind == _BIND_COMPLETE)
                if not faulting:
                    client_w.write(header + body)
                    await client_w.drain()
                elif kind == _READY and not self.fired.is_set():  # done (and committed)
                    self.fired.set()
                    if self.fault == "drop":
                        return  # the client never hears of it

        tasks = [asyncio.create_task(to_server()), asyncio.create_task(to_client())]
        with contextlib.suppress(Exception):
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()
        for w in (client_w, up_w):
            w.close()
            self._writers.discard(w)
