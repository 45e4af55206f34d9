"""The 24 h customer-service window at the API, served in-process on real PostgreSQL and
Redis: with SERVICE_WINDOW_CHECK a free-form send outside the window is a 422 at once (Meta
is never asked), a template always goes, a contact's message opens it; and
`GET /api/v1/contacts/{contact_id}/` says so, for a person asked by phone number (`+`,
`%2B`) or business-scoped user id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from db import contacts, marketing_preferences, service_windows
from db.contacts import Sighting
from db.marketing_preferences import Preference
from tests.conftest import Services
from tests.support.inprocess import Served, serving
from tests.support.settings import OUTBOUND

TO = "4915112345678"
TEXT = {"to": "+" + TO, "type": "text", "text": {"body": "Your order has shipped"}}
TEMPLATE = {
    "to": TO,
    "type": "template",
    "template": {"name": "order_update", "language": {"code": "en_US"}},
}


@pytest.fixture
async def app(
    database_url: str, services: Services, pool: asyncpg.Pool, redis: Redis
) -> AsyncIterator[Served]:
    async with serving(database_url, services.redis_url, SERVICE_WINDOW_CHECK="true") as served:
        yield served


async def send(app: Served, body: dict[str, Any]) -> Any:
    client, _ = app
    return await client.post("/api/v1/messages/send/", content=orjson.dumps(body))


async def test_free_form_outside_the_window_is_refused_at_once(app: Served, redis: Redis):
    r = await send(app, TEXT)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert "window" in error["code"]
    assert error["fields"][0]["field"] == "type"
    assert "never wrote" in error["fields"][0]["message"]
    assert await redis.xlen(OUTBOUND) == 0  # nothing stored or queued: Meta never asked
    assert (await send(app, TEMPLATE)).status_code == 202  # a template always goes


async def test_a_contacts_message_opens_it_for_24_hours(app: Served, pool: asyncpg.Pool):
    client, env = app
    number = env["WHATSAPP_PHONE_NUMBER_ID"]
    wrote = datetime.now(UTC) - timedelta(hours=1)
    await service_windows.opened(pool, [(number, TO, wrote)])
    assert (await send(app, TEXT)).status_code == 202
    contact = (await client.get(f"/api/v1/contacts/{TO}/")).json()
    assert contact["phone_number_id"] == number
    window = contact["service_window"]
    assert window["open"] is True
    assert datetime.fromisoformat(window["last_inbound_at"]) == wrote
    assert datetime.fromisoformat(window["expires_at"]) == wrote + timedelta(hours=24)
    assert window["closed_by_meta_at"] is None
    same = await client.get(f"/api/v1/contacts/{TO}/", params={"phone_number_id": number})
    assert same.json() == contact
    with_plus = await client.get(f"/api/v1/contacts/+{TO}/")  # as sends take it
    assert with_plus.json() == contact

    await service_windows.closed(pool, [(number, TO, datetime.now(UTC))])  # Meta's 131047
    assert (await send(app, TEXT)).status_code == 422
    window = (await client.get(f"/api/v1/contacts/{TO}/")).json()["service_window"]
    assert window["open"] is False and window["closed_by_meta_at"] is not None


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/api/v1/contacts/not-a-number/", {}, 400, "contact_id"),
        ("/api/v1/contacts/US.not-a-bsuid/", {}, 400, "contact_id"),
        ("/api/v1/contacts/%2B0123/", {}, 400, "contact_id"),
        (f"/api/v1/contacts/{TO}/", {"phone_number_id": "999"}, 422, "phone_number_id"),
        (f"/api/v1/contacts/{TO}/", {"phone_number_id": ""}, 422, "phone_number_id"),
        (f"/api/v1/contacts/{TO}/", {"number": "1"}, 400, "number"),
    ],
    ids=[
        "not a number",
        "not a BSUID",
        "encoded + and too short",
        "unknown number",
        "empty number",
        "unknown parameter",
    ],
)
async def test_a_bad_contact_request_names_its_field(app: Served, path, params, status, field):
    client, _ = app
    r = await client.get(path, params=params)
    assert r.status_code == status, r.text
    assert r.json()["error"]["fields"][0]["field"] == field


async def test_without_the_check_free_form_goes_as_before(
    database_url: str, services: Services, pool: asyncpg.Pool
):
    async with serving(database_url, services.redis_url) as (client, _):
        r = await client.post("/api/v1/messages/send/", content=orjson.dumps(TEXT))
    assert r.status_code == 202, r.text


USER_ID = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"


@pytest.mark.parametrize(
    "asked",
    [TO, "+" + TO, "%2B" + TO, "%2b" + TO, USER_ID, PARENT],
    ids=["digits", "plus", "%2B", "%2b", "BSUID", "parent BSUID"],
)
async def test_a_person_is_found_by_any_of_their_ids(app: Served, pool: asyncpg.Pool, asked):
    """They wrote by BSUID alone; Meta revealed their number on a status since: every id
    answers with all of them, the username and the window their message opened."""
    client, env = app
    number = env["WHATSAPP_PHONE_NUMBER_ID"]
    wrote = datetime.now(UTC) - timedelta(hours=1)
    await service_windows.opened(pool, [(number, USER_ID, wrote)])
    async with pool.acquire() as conn:
        await contacts.seen(conn, [Sighting(number, None, USER_ID, PARENT, "@sheena")])
        await contacts.seen(conn, [Sighting(number, TO, USER_ID)])
    r = await client.get(f"/api/v1/contacts/{asked}/")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["wa_id"], body["user_id"], body["parent_user_id"], body["username"]) == (
        TO,
        USER_ID,
        PARENT,
        "@sheena",
    )
    assert body["service_window"]["open"] is True
    assert datetime.fromisoformat(body["service_window"]["last_inbound_at"]) == wrote


@pytest.mark.parametrize(
    ("asked", "known"),
    [
        (TO, {"wa_id": TO, "user_id": None, "parent_user_id": None}),
        (USER_ID, {"wa_id": None, "user_id": USER_ID, "parent_user_id": None}),
        (PARENT, {"wa_id": None, "user_id": None, "parent_user_id": PARENT}),
    ],
    ids=["phone", "BSUID", "parent BSUID"],
)
async def test_a_stranger_is_named_by_the_id_asked_about(app: Served, asked, known):
    client, _ = app
    body = (await client.get(f"/api/v1/contacts/{asked}/")).json()
    assert {k: body[k] for k in known} == known
    assert body["username"] is None and body["service_window"]["open"] is False


async def test_the_marketing_preference_is_shown_under_any_of_a_persons_ids(
    app: Served, pool: asyncpg.Pool
):
    """Meta reported the stop by BSUID; the person is linked to their number since: asked by
    either, the contact shows the stop; a stranger shows none."""
    client, env = app
    number = env["WHATSAPP_PHONE_NUMBER_ID"]
    stopped = datetime(2026, 12, 3, 10, 2, 11, tzinfo=UTC)
    await marketing_preferences.record(
        pool, [Preference(number, USER_ID, "stop", stopped, "user_preferences")]
    )
    async with pool.acquire() as conn:
        await contacts.seen(conn, [Sighting(number, TO, USER_ID)])
    for asked in (TO, USER_ID):
        body = (await client.get(f"/api/v1/contacts/{asked}/")).json()
        assert body["marketing"] == {
            "value": "stop",
            "changed_at": stopped.isoformat(),
            "source": "user_preferences",
        }
    stranger = (await client.get("/api/v1/contacts/4915100000077/")).json()
    assert stranger["marketing"] == {"value": None, "changed_at": None, "source": None}
