"""Marketing consent end to end, with real processes (web, worker, Meta simulator, Hub sink):
a user stops marketing messages at the simulator (Meta's signed user_preferences webhook),
a MARKETING template to them is refused at the door (422 `marketing_opted_out`) while a
utility template still goes, the user resumes (the `user_preference_changed` system message)
and the marketing template goes, through /marketing_messages with MARKETING_MESSAGES_API,
Meta's `message_status` kept. Without a catalog nothing is refused at the door: Meta's 131050
fails the send for good and records the stop."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.api_keys import parse
from harness.stack import Stack
from simulator.meta_webhooks import WABA_ID
from tests.conftest import Services, new_recipient, running_stack
from tests.e2e.test_loop import eventually, hub_events, meta_calls, send, until_status
from tests.e2e.test_templates import body, synced, template

pytestmark = pytest.mark.timeout(120)

MARKETING = template("welcome_offer", "en_US", body("10%"))
UTILITY = template("order_update", "en_US", body("42"))


@pytest.fixture(scope="module")
async def consent(
    services: Services, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """web + worker + simulator + sink with the catalog and the Marketing Messages API."""
    name = f"messaging_marketing_{os.getpid()}"
    logs = tmp_path_factory.mktemp("marketing-stack-logs")
    env = {"WHATSAPP_BUSINESS_ACCOUNT_ID": WABA_ID, "MARKETING_MESSAGES_API": "true"}
    async with running_stack(services, name, 6, logs, **env) as s:
        yield s


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


async def prefer(http: httpx.AsyncClient, stack: Stack, user: str, value: str, **extra: Any) -> int:
    """The user stops or resumes at the simulator; returns Meta's time of it (unix seconds)."""
    r = await http.post(
        f"{stack.sim}/_sim/preferences", json={"user": user, "value": value, **extra}
    )
    assert r.status_code == 200 and r.json()["webhook_status"] == 200, r.text
    return r.json()["timestamp"]


async def told(http: httpx.AsyncClient, stack: Stack, user: str, value: str) -> list[dict]:
    """The Hub's `contact.preferences` events saying `value` for `user`, once one arrived."""

    async def probe() -> list[dict]:
        found = await hub_events(http, stack, type="contact.preferences")
        data = [e["event"]["data"] for e in found]
        return [d for d in data if (d["contact"], d["value"]) == (user, value)]

    return await eventually(probe)


def template_send(to: str, sent: dict[str, Any]) -> dict[str, Any]:
    return {"to": to, "type": "template", "template": sent}


async def test_stop_refused_at_the_door_resume_sent_through_marketing_messages(http, consent):
    await synced(http, consent)
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    billing = next(
        k.key for k in parse(consent.env["MESSAGING_SERVICE_API_KEY"]) if k.caller == "billing"
    )
    to = new_recipient()
    stopped_at = await prefer(http, consent, to, "stop")
    [stop] = await told(http, consent, to, "stop")
    assert (stop["source"], stop["phone_number_id"]) == (
        "user_preferences",
        consent.env["WHATSAPP_PHONE_NUMBER_ID"].split(",")[0],
    )

    refused = await send(http, consent, template_send(to, MARKETING), **{"Api-Key": billing})
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert (error["code"], [f["field"] for f in error["fields"]]) == ("marketing_opted_out", ["to"])

    utility = await send(http, consent, template_send(to, UTILITY), **{"Api-Key": billing})
    assert utility.status_code == 202, utility.text  # only marketing stops
    await until_status(http, consent, utility.json()["id"], "read")

    # Meta's times are whole seconds: the resume comes one later (a tie keeps the stop).
    await prefer(http, consent, to, "resume", system_message=True, timestamp=stopped_at + 1)
    [resume] = await told(http, consent, to, "resume")
    assert resume["source"] == "system_message"

    async def accepted() -> httpx.Response | None:
        r = await send(http, consent, template_send(to, MARKETING), **{"Api-Key": billing})
        return r if r.status_code == 202 else None

    marketing = await eventually(accepted)
    status = await until_status(http, consent, marketing.json()["id"], "read")
    [sent] = [t for t in status["timeline"] if (t["status"], t["source"]) == ("sent", "sender")]
    assert sent["details"]["message_status"] == "accepted"  # Meta's answer, kept

    calls = await meta_calls(http, consent, to)
    assert [(c["body"]["template"]["name"], c["endpoint"]) for c in calls] == [
        ("order_update", "messages"),
        ("welcome_offer", "marketing_messages"),
    ]

    # What it cost, by the caller whose key sent it: the refused send was never a message.
    number = consent.env["WHATSAPP_PHONE_NUMBER_ID"].split(",")[0]
    r = await http.get(
        f"{consent.api}/api/v1/usage/",
        params={"from": since, "caller": "billing"},
        headers=consent.headers(),
    )
    assert r.status_code == 200, r.text
    usage = r.json()
    counts = {"messages": 1, "billable": 1, "free": 0}
    assert usage["by_category"] == {"marketing": counts, "utility": counts}, usage
    assert usage["by_phone_number"] == {number: {"messages": 2, "billable": 2, "free": 0}}
    assert usage["by_caller"] == {"billing": {"messages": 2, "billable": 2, "free": 0}}


async def test_without_a_catalog_metas_131050_fails_the_send_and_records_the_stop(http, stack):
    to = new_recipient()
    await prefer(http, stack, to, "stop")
    await told(http, stack, to, "stop")
    r = await send(http, stack, template_send(to, MARKETING))
    assert r.status_code == 202, r.text  # no catalog: the category is unknown, Meta decides
    failed = await until_status(http, stack, r.json()["id"], "failed")
    assert failed["error"]["code"] == 131050 and "stopped marketing" in failed["error"]["reason"]
    assert failed["attempts"] == 1  # never retried
    stops = await told(http, stack, to, "stop")
    assert {s["source"] for s in stops} >= {"user_preferences"}
    [call] = await meta_calls(http, stack, to)
    assert call["endpoint"] == "messages"
