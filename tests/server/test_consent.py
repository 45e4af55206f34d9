"""Marketing consent at the door, served in-process on real PostgreSQL and Redis with the
catalog as a sync stores it (Meta's recorded pages, one MARKETING template approved): a
MARKETING template to a contact whose latest preference is `stop` is a 422
`marketing_opted_out` naming `to` (`recipient` for a send by BSUID alone) before anything is
stored; other categories and free-form messages go; a later resume lifts it. An accepted
template stores its catalog category for the sender."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from db import contacts, marketing_preferences
from db.contacts import Sighting
from db.marketing_preferences import Preference
from tests.conftest import Services
from tests.server.test_templates import WABA, body, header, listed, store, template
from tests.support.inprocess import Served, serving
from tests.support.settings import NUMBER, OUTBOUND

TO, BSUID = "4915112345678", "US.13491208655302741918"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MARKETING = template("summer_sale_coupon", "en_GB", header("video"), body("25%"))
UTILITY = template("order_delivery_update", "en_US", body("Pablo", "Monday"))
AUTHENTICATION = template("verification_code", "en_US", body("123456"))


@pytest.fixture
async def app(
    database_url: str, services: Services, pool: asyncpg.Pool, redis: Redis
) -> AsyncIterator[Served]:
    catalog = listed()
    for t in catalog:  # Meta's recorded MARKETING template, approved since
        if t["name"] == "summer_sale_coupon":
            t["status"] = "APPROVED"
    await store(pool, catalog)
    async with serving(
        database_url, services.redis_url, WHATSAPP_BUSINESS_ACCOUNT_ID=WABA
    ) as served:
        yield served


async def said(pool: asyncpg.Pool, *facts: tuple[str, str, int, str]) -> None:
    """(contact, value, minutes after T0, number) facts, as the webhook processor stores them."""
    rows = [
        Preference(n, c, v, T0 + timedelta(minutes=m), "user_preferences") for c, v, m, n in facts
    ]
    await marketing_preferences.record(pool, rows)


async def send(app: Served, message: dict[str, Any], **recipient: str) -> Any:
    client, _ = app
    payload = {**(recipient or {"to": TO}), **message}
    return await client.post("/api/v1/messages/send/", content=orjson.dumps(payload))


def as_template(t: dict[str, Any]) -> dict[str, Any]:
    return {"type": "template", "template": t}


TEXT = {"type": "text", "text": {"body": "Your order shipped"}}
STOPPED = [(TO, "stop", 0, NUMBER)]
# label, preferences stated, what is sent, to whom, refused naming this field (None: accepted)
CASES = [
    ("never said anything: marketing goes", [], as_template(MARKETING), {"to": TO}, None),
    ("stopped: marketing refused", STOPPED, as_template(MARKETING), {"to": TO}, "to"),
    ("stopped: utility goes", STOPPED, as_template(UTILITY), {"to": TO}, None),
    ("stopped: authentication goes", STOPPED, as_template(AUTHENTICATION), {"to": TO}, None),
    ("stopped: free-form goes", STOPPED, TEXT, {"to": TO}, None),
    (
        "stopped, then resumed: marketing goes",
        [*STOPPED, (TO, "resume", 5, NUMBER)],
        as_template(MARKETING),
        {"to": TO},
        None,
    ),
    (
        "a resume older than the stop: still refused",
        [(TO, "resume", -5, NUMBER), *STOPPED],
        as_template(MARKETING),
        {"to": TO},
        "to",
    ),
    (
        "stopped under Brazil's other way of writing the number: refused",
        [("5511987654321", "stop", 0, NUMBER)],
        as_template(MARKETING),
        {"to": "+551187654321"},
        "to",
    ),
    (
        "stopped, Brazil's number without the ninth digit: refused with it",
        [("551187654321", "stop", 0, NUMBER)],
        as_template(MARKETING),
        {"to": "+5511987654321"},
        "to",
    ),
    (
        "stopped on another number: goes",
        [(TO, "stop", 0, "999")],
        as_template(MARKETING),
        {"to": TO},
        None,
    ),
    (
        "stopped under the BSUID, sent by BSUID alone",
        [(BSUID, "stop", 0, NUMBER)],
        as_template(MARKETING),
        {"recipient": BSUID},
        "recipient",
    ),
    (
        "stopped under the BSUID, sent to phone and BSUID",
        [(BSUID, "stop", 0, NUMBER)],
        as_template(MARKETING),
        {"to": TO, "recipient": BSUID},
        "to",
    ),
]


@pytest.mark.parametrize(
    ("label", "facts", "message", "recipient", "field"), CASES, ids=[c[0] for c in CASES]
)
async def test_marketing_consent_is_checked_at_the_door(
    app: Served, pool, redis: Redis, label, facts, message, recipient, field
) -> None:
    await said(pool, *facts)
    r = await send(app, message, **recipient)
    if field is None:
        assert r.status_code == 202, r.text
        return
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "marketing_opted_out"
    [problem] = error["fields"]
    assert problem["field"] == field and "131050" in problem["message"]
    assert await redis.xlen(OUTBOUND) == 0  # nothing stored or queued
    assert await pool.fetchval("SELECT count(*) FROM messages") == 0


SENT = [
    ("marketing", as_template(MARKETING), "MARKETING"),
    ("utility", as_template(UTILITY), "UTILITY"),
    ("authentication", as_template(AUTHENTICATION), "AUTHENTICATION"),
    ("free-form", TEXT, None),
]


async def test_a_stop_under_a_linked_id_holds_for_a_send_by_phone(app: Served, pool) -> None:
    """Meta reported the stop by BSUID; a status linked that BSUID to the number since."""
    await said(pool, (BSUID, "stop", 0, NUMBER))
    async with pool.acquire() as conn:
        await contacts.seen(conn, [Sighting(NUMBER, TO, BSUID)])
    r = await send(app, as_template(MARKETING), to=TO)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["fields"][0]["field"] == "to"


@pytest.mark.parametrize(("label", "message", "category"), SENT, ids=[s[0] for s in SENT])
async def test_the_catalog_category_is_stored_with_the_message(
    app: Served, pool, label, message, category
) -> None:
    r = await send(app, message)
    assert r.status_code == 202, r.text
    stored = await pool.fetchrow("SELECT template_category, payload FROM messages")
    assert stored["template_category"] == category
    assert "template_category" not in orjson.dumps(stored["payload"]).decode()  # not Meta's
