"""Structured logs: one JSON object per line, request ids, one message followed by its id
through the web and worker logs of the real processes, and no secret or message text in
any log whatever path a request takes."""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import io
import logging
import re
import uuid
from typing import Any

import orjson
import pytest

from core import logs
from core.settings import Settings
from server.middleware.request_ids import request_id_of
from tests.conftest import Stack, new_recipient
from tests.e2e.test_loop import client, eventually, hub_events, send, text_message, until_status
from tests.support.settings import VALID

__all__ = ["client"]  # the shared fixture: pytest finds it in this module by name

pytestmark = pytest.mark.timeout(90)
_GENERATED = re.compile(r"[0-9a-f]{32}")


def log_lines(stack: Stack, proc: str) -> list[dict[str, Any]]:
    """Every complete line of a process's log, each of which must be one JSON object."""
    text = stack.log(proc)
    complete = text[: text.rfind("\n") + 1]  # the last line may be half written
    lines = [orjson.loads(line) for line in complete.splitlines()]
    assert all(isinstance(line, dict) for line in lines)
    return lines


def mentions(line: dict[str, Any], text: str) -> bool:
    return text.encode() in orjson.dumps(line)


def _format(record_args: dict[str, Any], secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    """Log one record through the formatter, in a fresh context, and parse the line."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter(secrets))
    logger = logging.getLogger(f"test.logs.{uuid.uuid4().hex}")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)

    def emit() -> None:
        logs.new_context(request_id="req-1")
        logs.bind(message_id="m-1")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.warning(*record_args["args"], extra=record_args.get("extra"), exc_info=True)

    contextvars.copy_context().run(emit)
    text = out.getvalue()
    assert text.count("\n") == 1, text
    return orjson.loads(text)


def test_a_line_is_one_json_object_with_bound_and_extra_fields() -> None:
    line = _format({"args": ("sent wamid=%s", "w.1"), "extra": {"wamid": "w.1", "attempt": 2}})
    assert line["level"] == "WARNING"
    assert line["msg"] == "sent wamid=w.1"
    assert (line["request_id"], line["message_id"]) == ("req-1", "m-1")
    assert (line["wamid"], line["attempt"]) == ("w.1", 2)
    assert "ValueError: boom" in line["exc"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["ts"])
    assert "args" not in line and "levelno" not in line  # LogRecord internals stay out


def test_configured_secrets_are_redacted_wherever_they_appear() -> None:
    secrets = ("EAAtoken-abcdef", "whsec_c2VjcmV0", "m-1")
    line = _format(
        {"args": ("token %s", "EAAtoken-abcdef"), "extra": {"header": "Bearer whsec_c2VjcmV0"}},
        secrets,
    )
    assert line["msg"] == f"token {logs.REDACTED}"
    assert line["header"] == f"Bearer {logs.REDACTED}"
    assert line["message_id"] == "m-1"  # too short to be a secret: ordinary text stays


def test_every_secret_setting_and_url_password_is_redacted() -> None:
    settings = Settings.from_env({**VALID, "MESSAGING_SERVICE_API_KEY": "key-one,key-two"})
    secrets = set(logs.secrets_of(settings))
    expected = {"key-one", "key-two", "pg-password-123", "redis-password-456", VALID["REDIS_URL"]}
    expected |= {VALID[k] for k in ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET")}
    expected |= {VALID[k] for k in ("WHATSAPP_VERIFY_TOKEN", "HUB_WEBHOOK_SECRET")}
    assert expected <= secrets
    assert VALID["WHATSAPP_PHONE_NUMBER_ID"] not in secrets  # an id, not a secret
    rebuilt = "connect to postgresql://app:pg-password-123@db.internal/messaging failed"
    line = orjson.loads(logs.JsonFormatter(secrets).format(logging.makeLogRecord({"msg": rebuilt})))
    assert "pg-password-123" not in line["msg"]


def test_access_line_has_the_path_but_never_the_query() -> None:
    record = logging.makeLogRecord(
        {
            "name": "sanic.access",
            "levelname": "INFO",
            "msg": "",
            "request": "GET http://127.0.0.1:8000/health/?token=health-token-1",
            "status": 200,
            "byte": 15,
            "host": "127.0.0.1:5000",
            "duration": " 1.5ms",
        }
    )
    line = orjson.loads(logs.JsonFormatter().format(record))
    assert line["msg"] == "request"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/health/", 200)
    assert (line["bytes"], line["duration_ms"]) == (15, 1.5)
    assert "health-token-1" not in orjson.dumps(line).decode()


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("abc-123", True),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", True),  # traceparent
        ("x" * 128, True),
        ("x" * 129, False),
        ("two words", False),
        ('inject"}\n{"level":"ERROR', False),
        ("", False),
        (None, False),
    ],
    ids=["plain", "traceparent", "longest", "too-long", "space", "injection", "empty", "none"],
)
def test_request_id_is_kept_only_when_sane(given: str | None, kept: bool) -> None:
    rid = request_id_of(given)
    assert rid == given if kept else _GENERATED.fullmatch(rid)


async def test_request_id_is_echoed_and_on_every_line_of_the_request(client, stack) -> None:
    given = f"hub-{uuid.uuid4().hex}"
    ok = await send(client, stack, text_message(new_recipient()), **{"X-Request-ID": given})
    unauthorised = await client.get(f"{stack.api}/api/v1/messages/status/{uuid.uuid4()}/")
    invalid = await client.get(f"{stack.api}/ping/", headers={"X-Request-ID": "a b"})
    assert ok.status_code == 202 and ok.headers["X-Request-ID"] == given
    assert unauthorised.status_code == 401
    generated = unauthorised.headers["X-Request-ID"]
    assert _GENERATED.fullmatch(generated)
    assert _GENERATED.fullmatch(invalid.headers["X-Request-ID"])

    async def access_lines() -> dict[str, dict] | None:
        ids = {given, generated, invalid.headers["X-Request-ID"]}
        found = {
            line["request_id"]: line
            for line in log_lines(stack, "web")
            if line.get("request_id") in ids and line["msg"] == "request"
        }
        return found if len(found) == 3 else None

    found = await eventually(access_lines)
    assert found[given]["status"] == 202
    assert found[given]["message_id"] == ok.json()["id"]
    assert (found[generated]["status"], found[generated]["method"]) == (401, "GET")


async def test_one_message_id_follows_the_message_from_request_to_hub_event(client, stack) -> None:
    rid = f"follow-{uuid.uuid4().hex}"
    r = await send(client, stack, text_message(new_recipient()), **{"X-Request-ID": rid})
    message_id = r.json()["id"]
    status = await until_status(client, stack, message_id, "read")

    async def three_events() -> set[str] | None:  # sent, delivered, read reached the Hub
        found = {e["event"]["id"] for e in await hub_events(client, stack, message_id=message_id)}
        return found if len(found) == 3 else None

    events = await eventually(three_events)

    async def delivered() -> list[dict] | None:
        mine = [line for line in log_lines(stack, "worker") if mentions(line, message_id)]
        done = {line.get("event_id") for line in mine if line["msg"].startswith("hub event del")}
        return mine if events <= done else None

    worker = await eventually(delivered)
    web = [line for line in log_lines(stack, "web") if mentions(line, message_id)]
    accepted = [w for w in web if w["msg"] == "request" and w["method"] == "POST"]
    assert [(w["request_id"], w["path"], w["status"]) for w in accepted] == [
        (rid, "/api/v1/messages/send/", 202)
    ]
    sent = [w for w in worker if w["msg"].startswith("sent to Meta")]
    assert len(sent) == 1
    assert (sent[0]["wamid"], sent[0]["attempt"]) == (status["wamid"], 1)
    assert re.fullmatch(r"\d+-\d+", sent[0]["entry_id"])
    queued = {w["event_id"]: w for w in worker if w["msg"].startswith("hub event queued")}
    assert set(queued) == events
    assert {q["message_status"] for q in queued.values()} == {"sent", "delivered", "read"}
    # The webhook that reported `delivered`: its POST's access line names the stream entry,
    # and the worker's line for the status names the batch of entries it came from.
    web_lines = log_lines(stack, "web")
    posts = {
        w["entry_id"]
        for w in web_lines
        if w.get("path") == "/webhooks/whatsapp/" and w.get("entry_id")
    }
    [reported] = [q for q in queued.values() if q["message_status"] == "delivered"]
    assert reported["stream"] == "messaging:webhooks:{w0}" and set(reported["entry_ids"]) & posts
    for line in worker:
        if line["msg"].startswith("hub event delivered"):
            assert line["wamid"] == status["wamid"] and line["attempt"] >= 1
            assert re.fullmatch(r"\d+-\d+", line["entry_id"])


def _signed(stack: Stack, body: bytes) -> dict[str, str]:
    key = stack.env["WHATSAPP_APP_SECRET"].encode()
    digest = hmac.new(key, body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


async def test_no_secret_or_message_text_reaches_any_log(client, stack) -> None:
    """Every path that touches a secret or a message body, then a grep of both logs."""
    env, api = stack.env, stack.api
    marker = uuid.uuid4().hex
    texts = [f"outbound {marker}", f"inbound {marker}", f"bad json {marker}", f"odd {marker}"]
    wrong_key = {"Api-Key": f"wrong-{marker}"}
    r = await send(client, stack, text_message(new_recipient(), texts[0]))
    assert r.status_code == 202
    message_id = r.json()["id"]
    await client.post(f"{api}/api/v1/messages/send/", content=texts[2], headers=stack.headers())
    await client.post(f"{api}/api/v1/messages/send/", content=b"{}", headers=wrong_key)
    for path in (message_id, "not-a-uuid", str(uuid.uuid4())):
        await client.get(f"{api}/api/v1/messages/status/{path}/", headers=stack.headers())
    await client.get(f"{api}/api/v1/messages/status/{message_id}/", headers=wrong_key)
    await client.post(f"{stack.sim}/_sim/inbound", json={"from": "4915100000000", "text": texts[1]})
    for token in (env["WHATSAPP_VERIFY_TOKEN"], "wrong"):
        params = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": marker}
        await client.get(f"{api}/webhooks/whatsapp/", params=params)
    odd = orjson.dumps({"object": "whatsapp_business_account", "entry": texts[3]})
    signature = _signed(stack, odd)
    await client.post(f"{api}/webhooks/whatsapp/", content=odd, headers=signature)
    await client.post(
        f"{api}/webhooks/whatsapp/", content=odd, headers={"X-Hub-Signature-256": "x"}
    )
    await client.post(f"{api}/webhooks/whatsapp/", content=odd)
    token = env["HEALTH_CHECK_TOKENS"].split(",")[0]
    await client.get(f"{api}/health/", headers={"Authorization": f"Bearer {token}"})
    await client.get(f"{api}/health/", headers={"X-Health-Token": token})
    await client.get(f"{api}/health/", params={"token": token})
    await client.get(f"{api}/health/", headers={"Authorization": "Bearer nope"})
    await client.get(f"{api}/metrics", headers={"Authorization": f"Bearer {token}"})
    await client.get(f"{api}/metrics", params={"token": token})
    worker_metrics = f"http://127.0.0.1:{env['WORKER_METRICS_PORT']}/metrics"
    await client.get(worker_metrics, headers={"Authorization": f"Bearer {token}"})
    read = f"{api}/api/v1/messages/wamid.{marker}/read/"
    await client.post(read, content=b'{"typing_indicator": true}', headers=stack.headers())
    await until_status(client, stack, message_id, "read")

    async def inbound_delivered() -> bool:
        return any(mentions(e, texts[1]) for e in await hub_events(client, stack))

    await eventually(inbound_delivered)
    hub_secret = env["HUB_WEBHOOK_SECRET"]
    secrets = [
        env["WHATSAPP_ACCESS_TOKEN"],
        env["WHATSAPP_APP_SECRET"],
        env["WHATSAPP_VERIFY_TOKEN"],
        hub_secret,
        hub_secret.removeprefix("whsec_"),
        *env["MESSAGING_SERVICE_API_KEY"].split(","),
        *env["HEALTH_CHECK_TOKENS"].split(","),
        wrong_key["Api-Key"],
        signature["X-Hub-Signature-256"].removeprefix("sha256="),
        *texts,
        logs.REDACTED,  # nothing even tried: redaction is the last line of defence only
    ]
    for proc in ("web", "worker"):
        text = stack.log(proc)
        assert log_lines(stack, proc), f"{proc} wrote no log at all"
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{proc} log has {leaked}"
