"""Input an attacker sends, on a real socket: header bytes that are not UTF-8 get a 4xx,
never a 500, a body from a caller who is not authenticated is refused before it is read
(the connection closes rather than take megabytes from anyone), and a body past its
route's cap is refused as it streams, chunked or not, even from a known caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from tests.conftest import Services
from tests.support.chunked import send_chunked
from tests.support.inprocess import Served, serving

BAD = b"\xff\xfe\xc3(\xed\xa0\x80"  # not UTF-8: a stray byte, a broken pair, a surrogate
MB = 1024 * 1024
WEBHOOK_CAP = MB  # WEBHOOK_MAX_BODY_BYTES here (default 4 MiB)


@pytest.fixture(scope="module")
async def app(database_url: str, services: Services) -> AsyncIterator[Served]:
    cap = str(WEBHOOK_CAP)
    async with serving(database_url, services.redis_url, WEBHOOK_MAX_BODY_BYTES=cap) as served:
        yield served


async def exchange(port: int, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send raw bytes; return the status and what the server sent before closing (or 5 s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + b"\r\n" + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        return int(answer.split(b" ", 2)[1]), answer
    finally:
        writer.close()


def request(method: str, path: str, *headers: bytes, length: int = 0) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: localhost", *headers]
    lines.append(f"Content-Length: {length}".encode())
    return b"\r\n".join(lines) + b"\r\n"


# label, method, path, the header with bytes that are not UTF-8, expected status
HEADERS = [
    ("Api-Key", "GET", "/api/v1/messages/status/0b5e2c1e-7a0e-4c39-9d1e-1f6f0e3b8a11/", 401),
    ("Api-Key on a send", "POST", "/api/v1/messages/send/", 401),
    ("X-Health-Token", "GET", "/health/", 401),
    ("Authorization", "GET", "/metrics", 401),
    ("X-Hub-Signature-256", "POST", "/webhooks/whatsapp/", 403),
]


@pytest.mark.parametrize(
    ("label", "method", "path", "status"), HEADERS, ids=[h[0] for h in HEADERS]
)
async def test_header_bytes_that_are_not_utf8_are_refused_not_a_500(
    app: Served, label, method, path, status
):
    _, env = app
    name = label.split(" ")[0].encode()
    value = b"Bearer " + BAD if name == b"Authorization" else b"sha256=" + BAD
    if name in (b"Api-Key", b"X-Health-Token"):
        value = BAD
    got, answer = await exchange(int(env["PORT"]), request(method, path, name + b": " + value))
    assert got == status, answer


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/v1/messages/send/", ()),
        ("/api/v1/messages/send/", (b"Api-Key: wrong-key",)),
        ("/webhooks/whatsapp/", ()),
        ("/api/v1/messages/wamid.abc/read/", ()),
    ],
    ids=["send without key", "send, wrong key", "webhook unsigned", "mark read without key"],
)
async def test_an_unauthenticated_7mb_body_is_refused_before_it_is_read(app: Served, path, headers):
    """Only the head and 1 KB of a declared 7 MB body are ever sent: the answer comes anyway,
    and the connection is closed rather than read to the end."""
    _, env = app
    head = request("POST", path, *headers, b"Content-Type: application/json", length=7_000_000)
    reader, writer = await asyncio.open_connection("127.0.0.1", int(env["PORT"]))
    try:
        writer.write(head + b"\r\n" + b"x" * 1024)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)  # all of it: the server closes
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


async def test_a_send_body_declared_too_large_is_refused_before_it_is_read(app: Served):
    _, env = app
    key = env["MESSAGING_SERVICE_API_KEY"].split(",")[0].encode()
    head = request("POST", "/api/v1/messages/send/", b"Api-Key: " + key, length=7_000_000)
    reader, writer = await asyncio.open_connection("127.0.0.1", int(env["PORT"]))
    try:
        writer.write(head + b"\r\n" + b"{" * 1024)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def routes(env: dict[str, str]) -> dict[str, tuple[str, bytes, int]]:
    """Each route that reads a body: its path, a header that gets it read, and its cap."""
    key = b"Api-Key: " + env["MESSAGING_SERVICE_API_KEY"].split(",")[0].encode()
    bogus = b"X-Hub-Signature-256: sha256=" + b"0" * 64  # judged only once the body is in
    return {
        "send": ("/api/v1/messages/send/", key, int(env.get("MAX_SEND_BODY_BYTES", 65536))),
        "mark read": ("/api/v1/messages/wamid.abc/read/", key, 4096),
        "webhook, bogus signature": ("/webhooks/whatsapp/", bogus, WEBHOOK_CAP),
    }


ROUTES = ["send", "mark read", "webhook, bogus signature"]


@pytest.mark.parametrize("route", ROUTES)
async def test_a_chunked_body_stops_at_the_routes_cap_as_it_streams(app: Served, route: str):
    """No Content-Length to judge: 16 MB sent chunked, 64 KiB a chunk, while the answer is
    read. The service answers 413 once the chunks pass the route's cap and closes, having
    taken little more than the cap (not Sanic's 8 MB), or reset the connection."""
    _, env = app
    path, header, cap = routes(env)[route]
    head = request("POST", path, header, b"Transfer-Encoding: chunked").replace(
        b"Content-Length: 0\r\n", b""
    )
    pieces = [b"{" * (64 * 1024)] * 256
    got, sent = await send_chunked("127.0.0.1", int(env["PORT"]), head + b"\r\n", pieces)
    assert got == b"" or got.startswith(b"HTTP/1.1 413"), got
    assert sent < cap + 2 * MB, f"{sent} bytes taken for a cap of {cap}"


@pytest.mark.parametrize("route", ROUTES)
async def test_a_body_declared_over_the_routes_cap_is_refused_before_it_is_read(
    app: Served, route: str
):
    """Only the head is sent: the 413, naming the cap, comes from Content-Length alone."""
    _, env = app
    path, header, cap = routes(env)[route]
    head = request("POST", path, header, length=cap + 1)
    reader, writer = await asyncio.open_connection("127.0.0.1", int(env["PORT"]))
    try:
        writer.write(head + b"\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(answer.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        body = orjson.loads(await asyncio.wait_for(reader.readexactly(length), 5))
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert body["error"] == {
        "code": "payload_too_large",
        "message": f"request body exceeds {cap} bytes",
    }
