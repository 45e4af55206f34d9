"""whatsapp.client.send_message over real sockets, through the worker's real HTTP client:
each way Meta can answer (or not) maps to the right retry decision."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import orjson
import pytest

from consumers.context import http_session
from core.settings import Settings
from tests.support.settings import VALID
from whatsapp.client import SendAnswer, send_message
from whatsapp.errors import (
    MetaOutcomeUnknown,
    MetaPairLimited,
    MetaPaused,
    MetaRejected,
    MetaThrottled,
    MetaUnavailable,
)

Reply = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


BSUID = "US.13491208655302741918"


def _answer(status: int, body: dict) -> Reply:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        data = orjson.dumps(body)
        writer.write(
            b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (status, len(data), data)
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    return reply


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")  # the request arrived; Meta may have acted on it
    writer.close()
    await writer.wait_closed()


async def _stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    await reader.read()  # never answer; returns when the client gives up and disconnects
    writer.close()
    await writer.wait_closed()


def _meta_error(code: int, details: str = "") -> dict:
    return {
        "error": {
            "message": f"(#{code}) error",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details},
        }
    }


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Not HTTP: the transport lets aiohttp's own parse error through, unmapped."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 abc\r\n\r\n")
    await writer.drain()
    writer.close()
    await writer.wait_closed()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    settings = Settings.from_env({**VALID, "HTTP_TIMEOUT_S": "0.5"})
    async with http_session(settings) as c:
        yield c


CASES = [
    ("accepted", _answer(200, {"messages": [{"id": "wamid.X"}]}), None),
    (
        "accepted, naming a BSUID",
        _answer(
            200, {"contacts": [{"input": BSUID, "user_id": BSUID}], "messages": [{"id": "wamid.X"}]}
        ),
        BSUID,
    ),
    (
        "accepted, naming a malformed BSUID",
        _answer(200, {"contacts": [{"user_id": "not one"}], "messages": [{"id": "wamid.X"}]}),
        None,
    ),
    ("500", _answer(500, _meta_error(2)), MetaUnavailable),
    ("131000 something went wrong", _answer(400, _meta_error(131000)), MetaUnavailable),
    ("429 throughput", _answer(429, _meta_error(130429)), MetaThrottled),
    ("131056 pair rate limit", _answer(400, _meta_error(131056)), MetaPairLimited),
    ("131048 spam rate limit", _answer(400, _meta_error(131048)), MetaPaused),
    ("131026 undeliverable", _answer(400, _meta_error(131026, "not on WhatsApp")), MetaRejected),
    ("131062 to a BSUID", _answer(400, _meta_error(131062)), MetaRejected),
    ("131049 per-user marketing limit", _answer(400, _meta_error(131049)), MetaRejected),
    ("131049 on a 503", _answer(503, _meta_error(131049)), MetaRejected),
    ("131050 user stopped marketing", _answer(400, _meta_error(131050)), MetaRejected),
    ("190 token expired", _answer(401, _meta_error(190)), MetaPaused),
    ("200 without an id", _answer(200, {"messages": []}), MetaOutcomeUnknown),
    ("hung up after the request", _hang_up, MetaOutcomeUnknown),
    ("no answer before the timeout", _stall, MetaOutcomeUnknown),
    ("malformed status line", _garbage, MetaOutcomeUnknown),
]


@pytest.mark.parametrize(("label", "reply", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_answers_map_to_retry_decisions(client, label, reply, expected):
    server = await asyncio.start_server(reply, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        call = send_message(client, f"http://127.0.0.1:{port}/v26.0/1/messages", "t", {})
        if expected is None or isinstance(expected, str):
            assert await call == SendAnswer("wamid.X", expected)
            return
        with pytest.raises(expected) as caught:
            await call
        retryable = (MetaUnavailable, MetaThrottled, MetaPairLimited, MetaPaused)
        assert caught.value.retryable == (expected in retryable)
    finally:
        server.close()
        await server.wait_closed()


async def test_refused_connection_is_retryable_because_nothing_was_sent(client):
    server = await asyncio.start_server(_hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(MetaUnavailable):
        await send_message(client, f"http://127.0.0.1:{port}/v26.0/1/messages", "t", {})


async def test_rejection_keeps_metas_code_and_details(client):
    server = await asyncio.start_server(
        _answer(400, _meta_error(131026, "not on WhatsApp")), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(MetaRejected) as caught:
            await send_message(client, f"http://127.0.0.1:{port}/v26.0/1/messages", "t", {})
    finally:
        server.close()
        await server.wait_closed()
    assert caught.value.as_error()["code"] == 131026
    assert caught.value.as_error()["details"] == "not on WhatsApp"


STATUSES = [("accepted", "accepted"), ("held", "held_for_quality_assessment"), ("none", None)]


@pytest.mark.parametrize(("label", "status"), STATUSES, ids=[s[0] for s in STATUSES])
async def test_metas_message_status_is_kept(client, label, status):
    sent = {"id": "wamid.X", **({"message_status": status} if status else {})}
    server = await asyncio.start_server(_answer(200, {"messages": [sent]}), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        url = f"http://127.0.0.1:{port}/v26.0/1/marketing_messages"
        assert await send_message(client, url, "t", {}) == SendAnswer("wamid.X", None, status)
    finally:
        server.close()
        await server.wait_closed()
