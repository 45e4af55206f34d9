"""The template catalog at the API, served in-process on real PostgreSQL and Redis, the
catalog written as a sync writes it (from Meta's recorded pages): `GET /api/v1/templates/`
lists it, and a template send Meta would refuse is a 422 naming the field, before anything
is stored. Without a WABA id, or before the first sync, nothing is checked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from db import templates
from db.templates import CatalogTemplate
from server.catalog.cache import CHECK_EVERY_S
from tests.conftest import Services
from tests.support.inprocess import Served, serving
from tests.support.settings import OUTBOUND
from tests.whatsapp.test_templates import page
from whatsapp.templates import parse_page

WABA = "102290129340398"
TO = "4915112345678"


def listed() -> list[dict[str, Any]]:
    """Meta's recorded pages, as a sync stores them."""
    return [t for name in ("page_1", "page_2") for t in page(name)["data"] if "name" in t]


async def store(pool: asyncpg.Pool, definitions: list[dict[str, Any]]) -> None:
    rows = [
        CatalogTemplate(t.name, t.language, t.status, t.category, d)
        for d, t in zip(definitions, parse_page({"data": definitions}).templates, strict=True)
    ]
    await templates.replace_catalog(pool, WABA, rows, datetime.now(UTC))


@pytest.fixture
async def app(
    database_url: str, services: Services, pool: asyncpg.Pool, redis: Redis
) -> AsyncIterator[Served]:
    await store(pool, listed())
    async with serving(
        database_url, services.redis_url, WHATSAPP_BUSINESS_ACCOUNT_ID=WABA
    ) as served:
        yield served


async def send(app: Served, template: dict[str, Any], **recipient: str) -> Any:
    client, _ = app
    body = {**(recipient or {"to": TO}), "type": "template", "template": template}
    return await client.post("/api/v1/messages/send/", content=orjson.dumps(body))


def body(*parameters: str) -> dict[str, Any]:
    return {"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}


def header(kind: str) -> dict[str, Any]:
    value = {"latitude": 52.5, "longitude": 13.4} if kind == "location" else {"id": "1234"}
    return {"type": "header", "parameters": [{"type": kind, kind: value}]}


def named(**values: str) -> dict[str, Any]:
    parameters = [{"type": "text", "parameter_name": k, "text": v} for k, v in values.items()]
    return {"type": "body", "parameters": parameters}


def template(name: str, language: str = "en_US", *components: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "language": {"code": language}, "components": list(components)}


RESERVATION = {"number_of_guests": "4", "day": "Sat", "date": "Aug 30", "time": "7 pm"}
# label, template sent, error code (None: accepted), field
CASES = [
    ("unknown name", template("order_shipped"), "template_not_found", "template.name"),
    (
        "language not in the catalog for that name",
        template("verification_code", "de", body("123456")),
        "template_language_not_found",
        "template.language.code",
    ),
    (
        "status not APPROVED",
        template("summer_sale_coupon", "en_GB", header("video"), body("25%")),
        "template_not_approved",
        "template.name",
    ),
    (
        "body parameter count differs from its placeholders",
        template("order_delivery_update", "en_US", body("Pablo")),
        "template_parameters_mismatch",
        "template.components[0].parameters",
    ),
    (
        "body missing while the template has placeholders",
        template("verification_code"),
        "template_parameters_mismatch",
        "template.components",
    ),
    (
        "media header's parameter missing",
        template("reservation_confirmation", "en_US", named(**RESERVATION)),
        "template_parameters_mismatch",
        "template.components",
    ),
    (
        "media header of the wrong kind",
        template("reservation_confirmation", "en_US", header("video"), named(**RESERVATION)),
        "template_parameters_mismatch",
        "template.components[0].parameters[0].type",
    ),
    (
        "named body with too few parameters",
        template("reservation_confirmation", "en_US", header("image"), named(day="Sat")),
        "template_parameters_mismatch",
        "template.components[1].parameters",
    ),
    (
        "image header and named body",
        template("reservation_confirmation", "en_US", header("image"), named(**RESERVATION)),
        None,
        None,
    ),
    (
        "text header not checked, two body parameters",
        template("order_delivery_update", "en_US", body("Pablo", "Monday")),
        None,
        None,
    ),
    ("authentication code", template("verification_code", "en_US", body("123456")), None, None),
]


@pytest.mark.parametrize(("label", "sent", "code", "field"), CASES, ids=[c[0] for c in CASES])
async def test_a_template_send_is_checked_against_the_catalog(
    app: Served, redis: Redis, label: str, sent: dict, code: str | None, field: str | None
):
    r = await send(app, sent)
    if code is None:
        assert r.status_code == 202, r.text
        return
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == code and "template" in error["code"]
    assert [f["field"] for f in error["fields"]] == [field]
    assert await redis.xlen(OUTBOUND) == 0  # nothing stored or queued: Meta never asked


AUTHENTICATION = template("verification_code", "en_US", body("123456"))
UTILITY = template("order_delivery_update", "en_US", body("Pablo", "Monday"))
BSUID, PARENT = "US.13491208655302741918", "US.ENT.11815799212886844830"
# label, template, whom it goes to, error code (None: accepted)
TO_USER_IDS = [
    ("authentication to a BSUID", AUTHENTICATION, {"recipient": BSUID}, "needs_phone_number"),
    (
        "authentication to a parent BSUID",
        AUTHENTICATION,
        {"recipient": PARENT},
        "needs_phone_number",
    ),
    ("authentication to phone and BSUID", AUTHENTICATION, {"to": TO, "recipient": BSUID}, None),
    ("utility to a BSUID", UTILITY, {"recipient": BSUID}, None),
]


@pytest.mark.parametrize(
    ("label", "sent", "recipient", "code"), TO_USER_IDS, ids=[c[0] for c in TO_USER_IDS]
)
async def test_meta_sends_no_authentication_template_to_a_user_id_alone(
    app: Served, redis: Redis, label: str, sent: dict, recipient: dict, code: str | None
):
    """Meta's 131062: one-tap, zero-tap and copy-code templates need the phone number."""
    r = await send(app, sent, **recipient)
    if code is None:
        assert r.status_code == 202, r.text
        return
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "template_" + code
    assert [f["field"] for f in error["fields"]] == ["recipient"]
    assert "131062" in error["fields"][0]["message"]
    assert await redis.xlen(OUTBOUND) == 0


async def test_a_named_parameter_is_named_by_its_position(app: Served):
    wrong = named(**{k: v for k, v in RESERVATION.items() if k != "time"}, hour="7 pm")
    r = await send(app, template("reservation_confirmation", "en_US", header("image"), wrong))
    assert r.status_code == 422, r.text
    [problem] = r.json()["error"]["fields"]
    assert problem["field"] == "template.components[1].parameters[3].parameter_name"
    assert "{{time}}" in problem["message"]


async def test_the_catalog_is_listed_with_what_each_component_needs(app: Served):
    client, _ = app
    r = await client.get("/api/v1/templates/")
    assert r.status_code == 200, r.text
    catalog = r.json()
    assert catalog["waba_id"] == WABA and catalog["synced_at"]
    assert [(t["name"], t["language"]) for t in catalog["templates"]] == sorted(
        (t["name"], t["language"]) for t in listed()
    )
    [photo] = [t for t in catalog["templates"] if t["name"] == "reservation_confirmation"]
    assert photo["status"] == "APPROVED" and photo["category"] == "UTILITY"
    assert photo["components"] == listed()[0]["components"]  # Meta's, as listed
    assert [(n["type"], len(n["parameters"])) for n in photo["parameters"]] == [
        ("header", 1),
        ("body", 4),
    ]
    assert photo["parameters"][1]["parameters"][0]["parameter_name"] == "number_of_guests"


@pytest.mark.parametrize(
    ("query", "names", "status"),
    [
        ("?name=verification_code", ["verification_code"], 200),
        ("?status=PAUSED", ["summer_sale_coupon"], 200),
        ("?name=verification_code&status=PAUSED", [], 200),
        ("?language=en_US", "language", 400),
        ("?name=Not-A-Name", "name", 400),
        ("?status=", "status", 400),
    ],
)
async def test_filters_and_what_is_refused(app: Served, query: str, names: Any, status: int):
    client, _ = app
    r = await client.get("/api/v1/templates" + query)
    assert r.status_code == status, r.text
    if status == 200:
        assert [t["name"] for t in r.json()["templates"]] == names
    else:
        assert [f["field"] for f in r.json()["error"]["fields"]] == [names]


@pytest.mark.slow
async def test_a_new_sync_reaches_the_check_within_a_second_or_two(app: Served, pool):
    unknown = template("brand_new", "en_US")
    assert (await send(app, unknown)).status_code == 422
    await store(pool, [*listed(), {**listed()[2], "name": "brand_new", "components": []}])
    await asyncio.sleep(CHECK_EVERY_S + 0.2)
    assert (await send(app, unknown)).status_code == 202


async def test_before_the_first_sync_nothing_is_refused(
    database_url: str, services: Services, pool: asyncpg.Pool, redis: Redis
):
    env = {"WHATSAPP_BUSINESS_ACCOUNT_ID": WABA}
    async with serving(database_url, services.redis_url, **env) as served:
        assert (await send(served, template("anything_at_all"))).status_code == 202
        r = await served[0].get("/api/v1/templates/")
        assert r.json() == {"waba_id": WABA, "synced_at": None, "templates": []}


async def test_without_a_waba_id_nothing_is_checked_or_listed(
    database_url: str, services: Services, pool: asyncpg.Pool, redis: Redis
):
    await store(pool, listed())  # a catalog of another configuration is not this one's
    async with serving(database_url, services.redis_url) as served:
        assert (await send(served, template("order_shipped"))).status_code == 202
        assert (await send(served, template("summer_sale_coupon", "en_GB"))).status_code == 202
        r = await served[0].get("/api/v1/templates/")
        assert r.json() == {"waba_id": None, "synced_at": None, "templates": []}
