"""Every valid send fixture, one message each, through the real stack: the API accepts it,
the sender delivers it, and the Meta simulator (which checks each type's shape and limits as
Meta does) accepts it and records exactly the body the fixture expects Meta to get."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import Stack, new_recipient

pytestmark = pytest.mark.timeout(90)

_VALID = sorted((Path(__file__).parent.parent / "fixtures" / "send" / "valid").glob("*.json"))
CASES = {path.stem: orjson.loads(path.read_bytes()) for path in _VALID}
_SENT_OR_BEYOND = {"sent", "delivered", "read"}


@pytest.fixture
async def http(stack: Stack) -> httpx.AsyncClient:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


async def _sent(http: httpx.AsyncClient, stack: Stack, message_id: str) -> dict[str, Any]:
    """The message's status once it is `sent` or beyond; fails fast on `failed`."""
    deadline = time.monotonic() + 20
    while True:
        r = await http.get(
            f"{stack.api}/api/v1/messages/status/{message_id}/", headers=stack.headers()
        )
        status = r.json()
        assert status["status"] != "failed", status["error"]
        if status["status"] in _SENT_OR_BEYOND:
            return status
        assert time.monotonic() < deadline, f"still {status['status']} after 20 s"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("name", CASES)
async def test_each_type_reaches_meta_as_expected(http, stack, name: str) -> None:
    case = CASES[name]
    to = new_recipient()
    r = await http.post(
        f"{stack.api}/api/v1/messages/send/",
        content=orjson.dumps({**case["request"], "to": "+" + to}),
        headers=stack.headers(),
    )
    assert r.status_code == 202, r.text
    message_id = r.json()["id"]

    status = await _sent(http, stack, message_id)
    assert status["type"] == case["request"]["type"]
    assert status["wamid"].startswith("wamid.")

    calls = (await http.get(f"{stack.sim}/_sim/messages", params={"to": to})).json()["messages"]
    assert [c["status_code"] for c in calls] == [200]
    expected = {**case["meta_payload"], "to": to, "biz_opaque_callback_data": message_id}
    assert calls[0]["body"] == expected


async def test_a_message_meta_would_refuse_is_a_400_naming_the_field(http, stack) -> None:
    to = new_recipient()
    body = CASES["interactive_button_image_header"]["request"]
    buttons = body["interactive"]["action"]["buttons"]
    too_long = {**buttons[2], "reply": {"id": "later", "title": "Remind me later, please"}}
    bad = {
        **body,
        "to": to,
        "interactive": {**body["interactive"], "action": {"buttons": [*buttons[:2], too_long]}},
    }
    r = await http.post(
        f"{stack.api}/api/v1/messages/send/", content=orjson.dumps(bad), headers=stack.headers()
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["fields"] == [
        {
            "field": "interactive.action.buttons[2].reply.title",
            "message": "must be at most 20 characters",
        }
    ]
