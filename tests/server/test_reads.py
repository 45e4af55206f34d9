"""`POST /api/v1/messages/{wamid}/read/` over real HTTP: the web process calls the Meta
simulator, which records each mark-read call; Meta's errors become the Hub's 4xx/502."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from server import meta_answers
from server.api_errors import ApiError
from tests.conftest import Stack, new_recipient

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def meta_fault(
    http: httpx.AsyncClient, stack: Stack, operation: str, *responses: dict[str, Any]
) -> None:
    """Queue the simulator's next answers to `operation` (upload, lookup, download, read)."""
    r = await http.post(
        f"{stack.sim}/_sim/faults", json={"operation": operation, "responses": list(responses)}
    )
    assert r.status_code == 200, r.text


async def inbound_wamid(http: httpx.AsyncClient, stack: Stack, wamid: str | None = None) -> str:
    """A real inbound message's wamid (`wamid`, else a new one): the simulator delivers it to
    the service's webhook, and from then on accepts mark-read calls for it, as Meta does."""
    message = {"from": new_recipient(), "text": "hi", **({"id": wamid} if wamid else {})}
    r = await http.post(f"{stack.sim}/_sim/inbound", json=message)
    assert r.status_code == 200, r.text
    return r.json()["wamid"]


async def reads_of(http: httpx.AsyncClient, stack: Stack, wamid: str) -> list[dict]:
    reads = (await http.get(f"{stack.sim}/_sim/reads")).json()["reads"]
    return [r for r in reads if r["message_id"] == wamid]


def read_url(stack: Stack, wamid: str) -> str:
    return f"{stack.api}/api/v1/messages/{quote(wamid, safe='')}/read/"


OK = {"messaging_product": "whatsapp", "status": "read"}
TYPING = {**OK, "typing_indicator": {"type": "text"}}

# label, request body, Meta's answer (a fault) or None, status, error code, field, Meta's record
CASES = [
    ("no body", b"", None, 200, None, None, OK),
    ("empty object", b"{}", None, 200, None, None, OK),
    ("typing indicator", b'{"typing_indicator": true}', None, 200, None, None, TYPING),
    ("typing indicator off", b'{"typing_indicator": false}', None, 200, None, None, OK),
    ("typing not a bool", b'{"typing_indicator": "yes"}', None, 400, "validation_error",
     "typing_indicator", None),
    ("unknown field", b'{"typing": true}', None, 400, "validation_error", "typing", None),
    ("body not JSON", b"{", None, 400, "validation_error", "body", None),
    ("Meta 500", b"", {"status": 500}, 502, "meta_unavailable", None, None),
    ("Meta throttles", b"", {"status": 429, "code": 130429}, 429, "meta_throttled", None, None),
    ("Meta refuses the id", b"", {"status": 400, "code": 100, "details": "Invalid message_id"},
     422, "meta_rejected", None, None),
    ("Meta refuses our token", b"", {"status": 401}, 502, "meta_unavailable", None, None),
    ("Meta's spam rate limit", b"", {"status": 400, "code": 131048}, 429, "meta_throttled",
     None, None),
    ("Meta blocks the account", b"", {"status": 400, "code": 368}, 502, "meta_unavailable",
     None, None),
    ("Meta does not know our number", b"", {"status": 400, "code": 100, "error_subcode": 33},
     502, "meta_unavailable", None, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "body", "fault", "status", "code", "field", "recorded"),
    CASES,
    ids=[c[0] for c in CASES],
)
async def test_mark_read(http, stack, label, body, fault, status, code, field, recorded):
    wamid = await inbound_wamid(http, stack)
    if fault:
        await meta_fault(http, stack, "read", fault)
    r = await http.post(read_url(stack, wamid), content=body, headers=stack.headers())
    assert r.status_code == status, r.text
    if status == 200:
        typing = "typing_indicator" in recorded
        assert r.json() == {"wamid": wamid, "status": "read", "typing_indicator": typing}
    else:
        error = r.json()["error"]
        assert error["code"] == code
        if field:
            assert [f["field"] for f in error["fields"]] == [field]
        assert stack.env["WHATSAPP_ACCESS_TOKEN"] not in r.text
    calls = await reads_of(http, stack, wamid)
    assert calls == ([{**recorded, "message_id": wamid}] if recorded else [])


async def test_an_unknown_wamid_is_metas_refusal(http, stack):
    """The simulator answers as Meta does for a message no user sent: 400, code 100."""
    wamid = "wamid.neverReceived" + new_recipient()
    r = await http.post(read_url(stack, wamid), headers=stack.headers())
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert (error["code"], error["meta"]["code"], error["meta"]["http_status"]) == (
        "meta_rejected",
        100,
        400,
    )
    assert "message_id" in error["meta"]["details"]
    assert await reads_of(http, stack, wamid) == []


async def test_meta_refusal_carries_metas_code_and_details(http, stack):
    wamid = await inbound_wamid(http, stack)
    await meta_fault(http, stack, "read", {"status": 400, "code": 131009, "details": "bad id"})
    r = await http.post(read_url(stack, wamid), headers=stack.headers())
    assert r.status_code == 422
    assert r.json()["error"]["meta"] == {
        "code": 131009,
        "title": "(#131009) Invalid parameter",
        "message": "(#131009) Invalid parameter",
        "details": "bad id",
        "http_status": 400,
    }


# A wamid holds base64 characters: "/" may come percent-encoded or raw, "+" and "=" as they are.
WAMIDS = [
    ("encoded slash", "wamid.HBgL/A+b=", "wamid.HBgL%2FA+b=", 200),
    ("raw slash", "wamid.HBgL/A+b=", "wamid.HBgL/A+b=", 200),
    ("our message id instead", None, "0b5e2c1e-7a0e-4c39-9d1e-1f6f0e3b8a11", 400),
    ("space", None, "wamid.a%20b", 400),
    ("only the prefix", None, "wamid.", 400),
]


@pytest.mark.parametrize(
    ("label", "wamid", "in_path", "status"), WAMIDS, ids=[w[0] for w in WAMIDS]
)
async def test_wamid_in_the_path(http, stack, label, wamid, in_path, status):
    if wamid:
        await inbound_wamid(http, stack, wamid)
    r = await http.post(f"{stack.api}/api/v1/messages/{in_path}/read/", headers=stack.headers())
    assert r.status_code == status, r.text
    if status == 200:
        assert r.json()["wamid"] == wamid
        assert len(await reads_of(http, stack, wamid)) >= 1
    else:
        assert r.json()["error"]["fields"][0]["field"] == "wamid"


@pytest.mark.parametrize(
    ("label", "headers"),
    [("missing", {}), ("wrong", {"Api-Key": "not-a-key"})],
    ids=["missing", "wrong"],
)
async def test_api_key_required(http, stack, label, headers):
    wamid = await inbound_wamid(http, stack)
    r = await http.post(read_url(stack, wamid), headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert await reads_of(http, stack, wamid) == []


async def _stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # never answers; returns when the client gives up


async def _html_500(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 500 X\r\nContent-Length: 6\r\nConnection: close\r\n\r\n<html>")
    await writer.drain()


# label, how the socket answers (None: nothing listens), status, error code
NETWORK = [
    ("no answer in time", _stall, 504, "meta_timeout"),
    ("nothing listening", None, 502, "meta_unavailable"),
    ("a 500 without JSON", _html_500, 502, "meta_unavailable"),
]


@pytest.mark.parametrize(("label", "serve", "status", "code"), NETWORK, ids=[n[0] for n in NETWORK])
async def test_meta_call_network_failures(label, serve, status, code):
    """meta_answers.call on a real socket: every way Meta can fail is an ApiError, never a 500."""
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await serve(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            done.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    if serve is None:
        server.close()
        await server.wait_closed()
    async with httpx.AsyncClient(timeout=0.3) as client:
        with pytest.raises(ApiError) as caught:
            await meta_answers.call(client, client.build_request("POST", url))
    server.close()
    if serve is not None:
        await asyncio.wait_for(done.wait(), 5)
    assert (caught.value.status, caught.value.code) == (status, code)
