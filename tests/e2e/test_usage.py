"""Usage end to end, with real processes: a caller with a named key (`billing:KEY`) sends a
marketing template and a free-form reply inside the user's window; the simulator prices
their statuses as Meta does, the status API shows the pricing and the caller, and
`GET /api/v1/usage/` counts them by category, number and caller. And the simulator's pricing
of each kind of send, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.api_keys import parse
from tests.conftest import new_recipient
from tests.e2e.test_loop import client, eventually, send, status_of, text_message

pytestmark = pytest.mark.timeout(90)
__all__ = ["client"]  # the shared fixture: pytest finds it in this module by name

WELCOME_OFFER = {  # MARKETING in the simulator's catalog
    "name": "welcome_offer",
    "language": {"code": "en_US"},
    "components": [{"type": "body", "parameters": [{"type": "text", "text": "10%"}]}],
}


async def test_a_marketing_template_and_a_free_reply_show_in_usage(client, stack) -> None:
    billing = next(
        k.key for k in parse(stack.env["MESSAGING_SERVICE_API_KEY"]) if k.caller == "billing"
    )
    number = stack.env["WHATSAPP_PHONE_NUMBER_ID"]
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    to = new_recipient()
    r = await client.post(f"{stack.sim}/_sim/inbound", json={"from": to, "text": "Any offers?"})
    assert r.status_code == 200, r.text  # the user wrote: the window is open

    sent = [
        await send(client, stack, body, **{"Api-Key": billing})
        for body in (
            {"to": to, "type": "template", "template": WELCOME_OFFER},
            text_message(to, "Here is 10% off: WELCOME10"),
        )
    ]
    assert [r.status_code for r in sent] == [202, 202], [r.text for r in sent]

    async def priced() -> list[dict] | None:
        found = [await status_of(client, stack, r.json()["id"]) for r in sent]
        return found if all(m["pricing"] for m in found) else None

    template, reply = await eventually(priced)
    assert (template["caller"], reply["caller"]) == ("billing", "billing")
    assert template["pricing"] == {
        "billable": True,
        "model": "PMP",
        "type": "regular",
        "category": "marketing",
    }
    assert reply["pricing"] == {
        "billable": False,
        "model": "PMP",
        "type": "free_customer_service",
        "category": "service",
    }

    r = await client.get(
        f"{stack.api}/api/v1/usage/", params={"from": since}, headers=stack.headers()
    )
    assert r.status_code == 200, r.text
    usage = r.json()
    assert usage["by_caller"]["billing"] == {"messages": 2, "billable": 1, "free": 1}
    r = await client.get(
        f"{stack.api}/api/v1/usage/",
        params={"from": since, "caller": "billing"},
        headers=stack.headers(),
    )
    usage = r.json()
    assert usage["by_category"] == {
        "marketing": {"messages": 1, "billable": 1, "free": 0},
        "service": {"messages": 1, "billable": 0, "free": 1},
    }
    assert usage["by_phone_number"] == {number: {"messages": 2, "billable": 1, "free": 1}}
    assert usage["totals"] == {"messages": 2, "billable": 1, "free": 1}


def _template(name: str) -> dict:
    return {"type": "template", "template": {"name": name, "language": {"code": "en_US"}}}


# label, whether the user wrote first (window open), the send, Meta's pricing of it
SIMULATED = [
    ("marketing template", False, {"type": "template", "template": WELCOME_OFFER},
     (True, "regular", "marketing")),
    ("authentication template", False, _template("verification_code"),
     (True, "regular", "authentication")),
    ("utility template, window closed", False, _template("order_update"),
     (True, "regular", "utility")),
    ("utility template in the window: free", True, _template("order_update"),
     (False, "free_customer_service", "utility")),
    ("free-form in the window", True, {"type": "text", "text": {"body": "Sure"}},
     (False, "free_customer_service", "service")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "wrote", "body", "pricing"), SIMULATED, ids=[s[0] for s in SIMULATED]
)
async def test_the_simulator_prices_as_meta(
    client, stack, label: str, wrote: bool, body: dict, pricing: tuple
) -> None:
    to = new_recipient()
    if wrote:
        r = await client.post(f"{stack.sim}/_sim/inbound", json={"from": to, "text": "Hello"})
        assert r.status_code == 200, r.text
    r = await send(client, stack, {"to": to, **body})
    assert r.status_code == 202, r.text

    async def priced() -> dict | None:
        return (await status_of(client, stack, r.json()["id"]))["pricing"]

    got = await eventually(priced)
    assert (got["billable"], got["type"], got["category"], got["model"]) == (*pricing, "PMP")
