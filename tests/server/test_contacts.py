"""The 24 h customer-service window at the API, served in-process on real PostgreSQL and
Redis: with SERVICE_WINDOW_CHECK a free-form send outside the window is a 422 at once (Meta
is never asked), a template always goes, a contact's message opens it; and
`GET /api/v1/contacts/{wa_id}/` says so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from db import service_windows
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
        ("/api/v1/contacts/not-a-number/", {}, 400, "wa_id"),
        (f"/api/v1/contacts/{TO}/", {"phone_number_id": "999"}, 422, "phone_number_id"),
        (f"/api/v1/contacts/{TO}/", {"phone_number_id": ""}, 422, "phone_number_id"),
        (f"/api/v1/contacts/{TO}/", {"number": "1"}, 400, "number"),
    ],
    ids=["wa_id", "unknown number", "empty number", "unknown parameter"],
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
