"""Sending to a business-scoped user id (BSUID), served in-process on real PostgreSQL and
Redis: `recipient` instead of or beside `to`, validated with the error naming it; what is
stored (the key, the BSUID) and written to Meta (`to` and `recipient`); the answer and the
status API naming both ids; idempotency, validity periods, the service window and several
numbers as with `to`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from redis.asyncio import Redis

from db import service_windows
from tests.conftest import Services
from tests.support.inprocess import serving
from tests.support.settings import NUMBER, OUTBOUND

PHONE = "4915112345678"
BSUID = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"
TEXT = {"type": "text", "text": {"body": "Your order has shipped"}}


@pytest.fixture
async def client(
    database_url: str, services: Services, pool: asyncpg.Pool, redis: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    numbers = {"WHATSAPP_PHONE_NUMBER_ID": f"{NUMBER},999"}
    async with serving(database_url, services.redis_url, **numbers) as (client, _):
        yield client


async def post(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> Any:
    return await client.post("/api/v1/messages/send/", content=orjson.dumps(body), headers=headers)


# label, whom the request names -> (stored key, stored BSUID), Meta's recipient fields
ACCEPTED = [
    ("phone", {"to": "+" + PHONE}, (PHONE, None), {"to": PHONE}),
    ("BSUID", {"recipient": BSUID}, (BSUID, BSUID), {"recipient": BSUID}),
    ("parent BSUID", {"recipient": PARENT}, (PARENT, PARENT), {"recipient": PARENT}),
    (
        "phone and BSUID: both to Meta, which takes `to`",
        {"to": PHONE, "recipient": BSUID},
        (PHONE, BSUID),
        {"to": PHONE, "recipient": BSUID},
    ),
    ("BSUID, `to` null", {"to": None, "recipient": BSUID}, (BSUID, BSUID), {"recipient": BSUID}),
]


@pytest.mark.parametrize(
    ("label", "whom", "stored", "meta"), ACCEPTED, ids=[c[0] for c in ACCEPTED]
)
async def test_a_send_names_a_phone_a_bsuid_or_both(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    label: str,
    whom: dict[str, Any],
    stored: tuple[str, str | None],
    meta: dict[str, str],
) -> None:
    r = await post(client, {**whom, **TEXT})
    assert r.status_code == 202, r.text
    row = await pool.fetchrow(
        "SELECT recipient, recipient_user_id, payload FROM messages WHERE id = $1::uuid",
        r.json()["id"],
    )
    key, user_id = stored
    assert (row["recipient"], row["recipient_user_id"]) == stored
    sent = row["payload"]
    assert {k: sent[k] for k in ("to", "recipient") if k in sent} == meta
    assert sent["recipient_type"] == "individual"
    phone = None if "." in key else key
    named = {"recipient": phone, "recipient_user_id": user_id}
    assert {k: r.json()[k] for k in named} == named
    status = (await client.get(r.json()["status_url"])).json()
    assert {k: status[k] for k in named} == named


# label, whom the request names, the fields the 400 names
REFUSED = [
    ("neither", {}, ["to", "recipient"]),
    ("both null", {"to": None, "recipient": None}, ["to", "recipient"]),
    ("lower-case country", {"recipient": "us.13491208655302741918"}, ["recipient"]),
    ("three-letter country", {"recipient": "USA.1349"}, ["recipient"]),
    ("no id after the dot", {"recipient": "US."}, ["recipient"]),
    ("a dash in the id", {"recipient": "US.1349-1208"}, ["recipient"]),
    ("129 characters after the dot", {"recipient": "US." + "1" * 129}, ["recipient"]),
    ("a phone number as recipient", {"recipient": "+" + PHONE}, ["recipient"]),
    ("a number, not a string", {"recipient": 13491208655302741918}, ["recipient"]),
    ("empty", {"recipient": ""}, ["recipient"]),
    ("a BSUID as to", {"to": BSUID}, ["to"]),
    ("bad to beside a good recipient", {"to": "123", "recipient": BSUID}, ["to"]),
]


@pytest.mark.parametrize(("label", "whom", "fields"), REFUSED, ids=[c[0] for c in REFUSED])
async def test_a_bad_recipient_is_a_400_naming_it(
    client: httpx.AsyncClient, redis: Redis, label: str, whom: dict[str, Any], fields: list[str]
) -> None:
    r = await post(client, {**whom, **TEXT})
    assert r.status_code == 400, r.text
    assert [f["field"] for f in r.json()["error"]["fields"]] == fields
    assert await redis.xlen(OUTBOUND) == 0


async def test_neither_is_named_beside_the_other_wrong_fields(client: httpx.AsyncClient) -> None:
    r = await post(client, {"type": "text", "text": {}})
    fields = [f["field"] for f in r.json()["error"]["fields"]]
    assert fields == ["text.body", "to", "recipient"]


async def test_idempotency_validity_and_numbers_work_by_bsuid(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    body = {"recipient": BSUID, **TEXT, "validity_period_s": 90}
    first = await post(client, body, **{"Idempotency-Key": "bsuid-1"})
    again = await post(client, body, **{"Idempotency-Key": "bsuid-1"})
    other = await post(client, {**body, "recipient": PARENT}, **{"Idempotency-Key": "bsuid-1"})
    assert (first.status_code, again.status_code, other.status_code) == (202, 202, 409)
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"]
    assert again.json()["recipient_user_id"] == BSUID
    status = (await client.get(first.json()["status_url"])).json()
    assert status["expires_at"] is not None

    from_other = await post(client, {**body, "phone_number_id": "999"})
    assert from_other.status_code == 202, from_other.text
    assert from_other.json()["phone_number_id"] == "999"
    assert await pool.fetchval("SELECT count(*) FROM messages") == 2


async def test_the_service_window_is_checked_by_bsuid(
    database_url: str, services: Services, pool: asyncpg.Pool, redis: Redis
) -> None:
    async with serving(database_url, services.redis_url, SERVICE_WINDOW_CHECK="true") as served:
        client, env = served
        closed = await post(client, {"recipient": BSUID, **TEXT})
        assert closed.status_code == 422, closed.text
        assert "never wrote" in closed.json()["error"]["fields"][0]["message"]
        wrote = datetime.now(UTC) - timedelta(hours=1)
        await service_windows.opened(pool, [(env["WHATSAPP_PHONE_NUMBER_ID"], BSUID, wrote)])
        assert (await post(client, {"recipient": BSUID, **TEXT})).status_code == 202
