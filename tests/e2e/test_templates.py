"""The template catalog end to end, with real processes: a stack whose worker syncs the
simulator's catalog (30 templates: more than Meta's default page of 25) through every page,
`GET /api/v1/templates/` lists it, the send API refuses what Meta would refuse (naming the
field), a valid template is sent, and a status changed at Meta reaches the catalog through
Meta's webhook. The session's stack, without a WABA id, checks nothing."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from harness.stack import Stack
from simulator.meta_templates import PAGE_SIZE
from simulator.meta_webhooks import WABA_ID
from tests.conftest import Services, new_recipient, running_stack
from tests.e2e.test_loop import eventually, hub_events, meta_calls, send, until_status

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
async def waba(
    services: Services, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """web + worker + simulator + sink with WHATSAPP_BUSINESS_ACCOUNT_ID set."""
    name = f"messaging_templates_{os.getpid()}"
    logs = tmp_path_factory.mktemp("templates-stack-logs")
    env = {"WHATSAPP_BUSINESS_ACCOUNT_ID": WABA_ID}
    async with running_stack(services, name, 3, logs, **env) as s:
        yield s


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


async def catalog(http: httpx.AsyncClient, stack: Stack, **filters: str) -> dict[str, Any]:
    r = await http.get(f"{stack.api}/api/v1/templates/", params=filters, headers=stack.headers())
    assert r.status_code == 200, r.text
    return r.json()


async def synced(http: httpx.AsyncClient, stack: Stack) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        found = await catalog(http, stack)
        return found if found["synced_at"] else None

    return await eventually(probe)


def template(name: str, language: str, *components: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "language": {"code": language}, "components": list(components)}


def body(*values: str) -> dict[str, Any]:
    return {"type": "body", "parameters": [{"type": "text", "text": v} for v in values]}


IMAGE = {"type": "header", "parameters": [{"type": "image", "image": {"id": "1037543291543636"}}]}


async def test_the_catalog_is_synced_across_pages_and_listed(http, waba):
    at_meta = (await http.get(f"{waba.sim}/_sim/templates")).json()["data"]
    assert len(at_meta) > PAGE_SIZE  # two pages at Meta's default size
    listed = (await synced(http, waba))["templates"]
    assert sorted((t["name"], t["language"], t["status"]) for t in listed) == sorted(
        (t["name"], t["language"], t["status"]) for t in at_meta
    )
    [photo] = [t for t in listed if (t["name"], t["language"]) == ("delivery_photo", "en_US")]
    assert [(n["type"], [p["type"] for p in n["parameters"]]) for n in photo["parameters"]] == [
        ("header", ["image"]),
        ("body", ["text", "text"]),
    ]
    assert waba.env["WHATSAPP_ACCESS_TOKEN"] not in waba.log("worker")  # never in a log line


REFUSALS = [
    ("unknown name", template("order_shipped", "en_US"), "template_not_found", "template.name"),
    (
        "language not in the catalog for that name",
        template("order_update", "ja", body("42")),
        "template_language_not_found",
        "template.language.code",
    ),
    (
        "not APPROVED",
        template("spring_sale", "en_US"),
        "template_not_approved",
        "template.name",
    ),
    (
        "body parameter count differs from its placeholders",
        template("delivery_photo", "en_US", IMAGE, body("Pablo")),
        "template_parameters_mismatch",
        "template.components[1].parameters",
    ),
    (
        "media header's parameter missing",
        template("delivery_photo", "en_US", body("Pablo", "10:42")),
        "template_parameters_mismatch",
        "template.components",
    ),
]


@pytest.mark.parametrize(("label", "sent", "code", "field"), REFUSALS, ids=[c[0] for c in REFUSALS])
async def test_a_send_meta_would_refuse_is_refused_at_once(http, waba, label, sent, code, field):
    await synced(http, waba)
    to = new_recipient()
    r = await send(http, waba, {"to": to, "type": "template", "template": sent})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert [f["field"] for f in error["fields"]] == [field]
    assert await meta_calls(http, waba, to) == []  # Meta never asked


async def test_a_valid_template_is_accepted_and_sent(http, waba):
    await synced(http, waba)
    to = new_recipient()
    sent = template("delivery_photo", "en_US", IMAGE, body("Pablo", "10:42"))
    r = await send(http, waba, {"to": to, "type": "template", "template": sent})
    assert r.status_code == 202, r.text
    await until_status(http, waba, r.json()["id"], "read")
    [call] = await meta_calls(http, waba, to)
    assert call["body"]["template"]["name"] == "delivery_photo"


async def test_a_status_changed_at_meta_is_synced_through_its_webhook(http, waba):
    await synced(http, waba)
    change = {"name": "order_update", "language": "de", "status": "PAUSED"}
    r = await http.post(f"{waba.sim}/_sim/templates", json=change)
    assert r.status_code == 200 and r.json()["webhook_status"] == 200, r.text
    try:

        async def paused() -> bool:
            found = (await catalog(http, waba, name="order_update"))["templates"]
            return any(t["language"] == "de" and t["status"] == "PAUSED" for t in found)

        await eventually(paused)  # the webhook's sync, long before TEMPLATE_SYNC_S
        events = await hub_events(http, waba, type="whatsapp.message_template_status_update")
        assert any(e["event"]["data"]["value"]["event"] == "PAUSED" for e in events)  # forwarded

        async def refused() -> dict[str, Any] | None:
            sent = {"to": new_recipient(), "type": "template"}
            sent["template"] = template("order_update", "de", body("42"))
            answer = await send(http, waba, sent)
            return answer.json() if answer.status_code == 422 else None

        assert (await eventually(refused))["error"]["code"] == "template_not_approved"
    finally:
        change["status"] = "APPROVED"
        await http.post(f"{waba.sim}/_sim/templates", json=change)


async def test_without_a_waba_id_nothing_is_checked(http, stack: Stack):
    assert stack.env.get("WHATSAPP_BUSINESS_ACCOUNT_ID") is None
    sent = {"to": new_recipient(), "type": "template", "template": template("no_such", "xx")}
    r = await send(http, stack, sent)
    assert r.status_code == 202, r.text  # Meta decides, as before the catalog
    assert (await catalog(http, stack))["templates"] == []
