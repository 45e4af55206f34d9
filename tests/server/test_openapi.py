"""The OpenAPI document agrees with the app: every route is in it, each path's parameters
are the route's, it is valid OpenAPI 3.1, it is served, and the Hub events a real run
produces match its `webhooks`. (Schemathesis checks the answers:
tests/server/test_schemathesis.py.)"""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from sanic import Sanic
from sanic.response import empty

from core.settings import Settings
from hub.contract import HUB_EVENTS, event_model
from server.app import create_app
from server.openapi.document import build_document, document_path
from server.openapi.operation import declared
from tests.conftest import Stack, new_recipient
from tests.e2e.test_loop import eventually, hub_events
from tests.support.settings import VALID

_METHODS = ("get", "post", "put", "patch", "delete")


def quiet_app(name: str) -> Sanic:
    """The real factory, minus the log handler it installs (which would outlive the test)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return create_app(Settings.from_env(VALID), name=name)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.fixture(scope="module")
def app() -> Sanic:
    return quiet_app("openapi_test")


def _routes(app: Sanic) -> set[tuple[str, str]]:
    return {(document_path(r), m.lower()) for r in app.router.routes for m in r.methods}


def _documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p, m) for p, item in document["paths"].items() for m in item if m in _METHODS}


@pytest.mark.slow  # openapi-spec-validator walks the whole document
def test_the_document_is_valid_openapi_3_1(app):
    document = build_document(app)
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_route_is_documented_and_nothing_else(app):
    undeclared = [r.name for r in app.router.routes if declared(r.handler) is None]
    assert undeclared == []
    assert _documented(build_document(app)) == _routes(app)


def test_a_route_without_a_declaration_is_caught():
    app = quiet_app("openapi_undeclared")

    @app.get("/api/v1/forgotten/")
    async def forgotten(request):
        return empty()

    assert ("/api/v1/forgotten/", "get") in _routes(app) - _documented(build_document(app))


def test_path_parameters_are_the_routes(app):
    for path, item in build_document(app)["paths"].items():
        for method, op in item.items():
            documented = {p["name"] for p in op.get("parameters", []) if p.get("in") == "path"}
            assert documented == set(re.findall(r"{(\w+)}", path)), (method, path)


def test_every_api_operation_requires_the_api_key_and_documents_errors(app):
    document = build_document(app)
    for path, item in document["paths"].items():
        for method, op in item.items():
            if path.startswith("/api/"):
                assert op["security"] == [{"ApiKey": []}], (method, path)
                assert "401" in op["responses"], (method, path)
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")) and path != "/health/":
                    schema = response["content"]["application/json"]["schema"]
                    for body in schema.get("anyOf", [schema]):
                        assert body["allOf"][0]["$ref"].endswith("ErrorBody"), (status, path)


def test_the_description_names_every_status_that_carries_fields(app):
    """`fields` come on 400s, and on the 413s and 422s whose body is a ValidationErrorBody."""
    document = build_document(app)
    with_fields = {
        status
        for item in document["paths"].values()
        for op in item.values()
        for status, response in op["responses"].items()
        if "ValidationErrorBody" in str(response.get("content"))
    }
    assert {"400", "413", "422"} <= with_fields
    description = document["info"]["description"]
    assert all(f"{status}s" in description for status in with_fields), with_fields


async def test_the_document_and_the_docs_page_are_served(stack: Stack, app):
    async with httpx.AsyncClient(base_url=stack.api) as client:
        served = (await client.get("/openapi.json")).json()
        page = await client.get("/docs")
    assert served == build_document(app)  # what tests/server/test_schemathesis.py runs against
    assert set(served["paths"]) >= {"/api/v1/messages/send/", "/ping/", "/webhooks/whatsapp/"}
    assert set(served["webhooks"]) == set(HUB_EVENTS)
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text  # this origin only


def _validator(document: dict[str, Any], event_type: str) -> Draft202012Validator:
    """The schema the document's `webhooks` give for an event of this type."""
    ref = {"$ref": "#/components/schemas/" + event_model(event_type).__name__}
    bodies = [w["post"]["requestBody"]["content"] for w in document["webhooks"].values()]
    assert {"application/json": {"schema": ref}} in bodies
    return Draft202012Validator(
        {**ref, "components": document["components"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


async def test_the_hub_events_of_a_real_run_match_the_webhooks(stack: Stack):
    """A read message, a failed one, an inbound message, a template status change and an
    item Meta's POST got wrong: each of their events validates against `webhooks`."""
    ok, failing, sender, waba = (new_recipient() for _ in range(4))
    rejection = {"status": 400, "code": 131026, "title": "Message undeliverable"}
    async with httpx.AsyncClient(timeout=10) as client:
        document = (await client.get(f"{stack.api}/openapi.json")).json()
        await client.post(
            f"{stack.sim}/_sim/scenarios", json={"to": failing, "responses": [rejection]}
        )
        for to in (ok, failing):
            body = {"to": to, "type": "text", "text": {"body": "hi"}, "metadata": {"n": 1}}
            r = await client.post(
                f"{stack.api}/api/v1/messages/send/", json=body, headers=stack.headers()
            )
            assert r.status_code == 202, r.text
        inbound = {"from": sender, "name": "Alice", "text": "Where is my order?"}
        for sim_body in (inbound, {"raw": _other_changes(waba)}):
            r = await client.post(f"{stack.sim}/_sim/inbound", json=sim_body)
            assert r.status_code == 200, r.text

        async def all_arrived() -> list[dict] | None:
            events = [e["event"] for e in await hub_events(client, stack)]
            mine = [e for e in events if _concerns(e, ok, failing, sender, waba)]
            kinds = {(e["type"], e["data"].get("status")) for e in mine}
            wanted = {
                ("message.status", "read"),
                ("message.status", "failed"),
                ("message.received", None),
                ("whatsapp.message_template_status_update", None),
                ("webhook.unparsed", None),
            }
            return mine if wanted <= kinds else None

        events = await eventually(all_arrived)
    for event in events:
        errors = list(_validator(document, event["type"]).iter_errors(event))
        assert errors == [], (event, [e.message for e in errors])
    assert any(e["data"].get("error") for e in events)


def _other_changes(waba: str) -> dict:
    """A template status change and an entry without `changes`, in one POST."""
    update = {
        "event": "APPROVED",
        "message_template_id": 1689556908129832,
        "message_template_name": "order_confirmation",
        "message_template_language": "en_US",
        "reason": "NONE",
    }
    change = {"field": "message_template_status_update", "value": update}
    entries = [{"id": waba, "time": 1750267000, "changes": [change]}, {"id": waba}]
    return {"object": "whatsapp_business_account", "entry": entries}


def _concerns(event: dict, *ids: str) -> bool:
    data = event["data"]
    return bool({data.get("recipient"), data.get("from"), data.get("waba_id")} & set(ids))
