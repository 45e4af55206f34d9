"""The docs hold: the Hub-side snippets of docs/api.md run as written, every relative link
of the README and docs/ resolves, the README stays a guide (at most 400 lines) and
docs/performance.md the current results (at most 300).

The `httpx` one sends a message to the real web process (the session `stack`) and the
message reaches the Meta simulator. The `standardwebhooks` one becomes a real HTTP endpoint
in this process, and the service's own Hub forwarder (`consumers.hub_forwarder._post`, which signs
and POSTs every event) delivers real events to it: the snippet verifies, handles each once,
and refuses a tampered body.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx
import orjson
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from consumers.hub_forwarder import _post
from harness.stack import free_port
from tests.conftest import ROOT, Stack
from tests.e2e.test_loop import eventually, hub_events, meta_calls

pytestmark = pytest.mark.timeout(60)


def hub_snippets() -> list[str]:
    """The python blocks of docs/api.md's "Using it from the Hub": [send, receive]."""
    api = (ROOT / "docs" / "api.md").read_text()
    section = api.split("## Using it from the Hub", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2, "expected the httpx block, then the standardwebhooks block"
    return blocks


def _run(code: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(code, "docs/api.md", "exec"), namespace)  # noqa: S102 - our own docs
    return namespace


async def test_the_httpx_snippet_sends_a_message(stack: Stack, monkeypatch):
    send, _ = hub_snippets()
    ns = await asyncio.to_thread(
        _run, send, monkeypatch, MESSAGING_URL=stack.api, MESSAGING_SERVICE_API_KEY=stack.api_key
    )
    assert ns["response"].status_code == 202 and ns["message"]["status"] == "queued"
    async with httpx.AsyncClient(timeout=10) as client:
        calls = await eventually(lambda: meta_calls(client, stack, "4915112345678"))
    assert calls[0]["body"]["biz_opaque_callback_data"] == ns["message"]["id"]


@pytest.fixture
async def readme_hub(stack: Stack, monkeypatch) -> AsyncIterator[tuple[str, Callable]]:
    """The README's `handle_event` behind a real HTTP endpoint: (its URL, the function)."""
    _, receive = hub_snippets()
    ns = _run(receive, monkeypatch, HUB_WEBHOOK_SECRET=stack.env["HUB_WEBHOOK_SECRET"])

    async def endpoint(request: web.Request) -> web.Response:
        status = ns["handle_event"](await request.read(), dict(request.headers))
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/events", endpoint)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/events", ns["handle_event"]
    finally:
        await runner.cleanup()


async def test_the_standardwebhooks_snippet_verifies_and_handles_real_events(
    stack: Stack, readme_hub, capsys
):
    url, _ = readme_hub
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(
            f"{stack.api}/api/v1/messages/send/",
            json={"to": "4917000000001", "type": "text", "text": {"body": "hi"}},
            headers=stack.headers(),
        )
        message_id = r.json()["id"]
        sent = await eventually(lambda: hub_events(client, stack, message_id=message_id))
        inbound = {"from": "4917000000002", "name": "Alice", "text": "Where is my order?"}
        wamid = (await client.post(f"{stack.sim}/_sim/inbound", json=inbound)).json()["wamid"]
        received = await eventually(lambda: hub_events(client, stack, wamid=wamid))
        settings = SimpleNamespace(
            hub_webhook_secret=stack.env["HUB_WEBHOOK_SECRET"], hub_webhook_url=url
        )
        events = [sent[0]["event"], received[0]["event"]]
        async with aiohttp.ClientSession() as session:  # the worker's client
            ctx = SimpleNamespace(settings=settings, http=session)
            for event in [*events, events[0]]:  # the last one a retry: handled once
                assert await _post(ctx, event["id"], orjson.dumps(event)) == (200, None)
        forged = await _forged(client, url, stack.env["HUB_WEBHOOK_SECRET"], events[1])
        assert forged.status_code == 400
    status, inbound_event = events[0]["data"], events[1]["data"]
    assert capsys.readouterr().out.splitlines() == [
        f"message {message_id} {status['status']} None None",
        f"from {inbound_event['from']} text {{'body': 'Where is my order?'}}",
    ]


async def _forged(client: httpx.AsyncClient, url: str, secret: str, event: dict) -> httpx.Response:
    """The event's genuine signature on an altered body."""
    now = datetime.now(UTC)
    body = orjson.dumps(event)
    headers = {
        "webhook-id": event["id"],
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(event["id"], now, body.decode()),
    }
    return await client.post(url, content=body.replace(b"Where", b"Here"), headers=headers)


def _anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_anchor(h) for h in re.findall(r"^#+ (.+)$", path.read_text(), re.M)}


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_every_relative_link_resolves(doc: Path):
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    broken = []
    for link in links:
        if re.match(r"[a-z]+://|mailto:", link):
            continue
        target, _, anchor = link.partition("#")
        path = (doc.parent / target).resolve() if target else doc
        if not path.exists() or (anchor and anchor not in _anchors(path)):
            broken.append(link)
    assert not broken, f"{doc.name}: broken links {broken}"


def test_the_readme_is_a_guide_read_in_ten_minutes():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 400


def test_the_performance_page_holds_the_current_results_only():
    """The dated runs live in docs/performance-history.md."""
    assert len((ROOT / "docs" / "performance.md").read_text().splitlines()) <= 300
