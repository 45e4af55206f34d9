"""`python -m ops` as a subprocess against real PostgreSQL and Redis, one case per question:
a message's story, the streams, the dead, and the replays. The data is made by the real
sender, webhook processor, Hub forwarder and stream runner, against scripted Meta and Hub
servers over real sockets."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from consumers import (
    events,
    hub_forwarder,
    scheduler,
    sender,
    status_matching,
    webhook_processor,
)
from consumers.context import Context
from consumers.runner import Consumer, Entry, Runner
from core.heartbeats import Role
from core.names import DELIVERED, HUB_FORWARDERS_GROUP, SENDERS_GROUP, WEBHOOK_PROCESSORS_GROUP
from db import claims, messages
from db.inbound import NewInbound
from db.messages import NewMessage
from db.statuses import StatusChange
from tests.conftest import ROOT, Services
from tests.consumers.test_status_matching import status_post
from tests.support.edge import Scripted
from tests.support.settings import HUB_STREAM, NUMBER, OUTBOUND, WEBHOOKS_STREAM

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]  # a process per question
SECRET_TEXT = f"the text nobody may read {uuid.uuid4().hex}"


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {"HUB_RETRY_SCHEDULE_S": "10,20"}


@pytest.fixture
def ops(database_url: str, services: Services):
    """Run `python -m ops ...` with the service's variables, as an operator would."""
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": database_url}
    env["REDIS_URL"] = services.redis_url
    env["WHATSAPP_PHONE_NUMBER_ID"] = f"{NUMBER},999"  # 999: configured, never used

    async def run(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "ops", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )

    return run


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    assert SECRET_TEXT not in proc.stdout + proc.stderr  # message texts are never shown
    return proc.stdout


async def sent_message(ctx: Context, edge: Scripted) -> tuple[uuid.UUID, str]:
    """A message the real sender sent (Meta scripted), then delivered per Meta's webhook."""
    message_id, to, wamid = uuid.uuid4(), "4915100000001", f"wamid.{uuid.uuid4().hex}"
    payload = {"to": to, "type": "text", "text": {"body": SECRET_TEXT}}
    await messages.insert(
        ctx.pool, NewMessage(message_id, None, "0" * 64, to, "text", payload, None, NUMBER)
    )
    edge.answer(to, (200, {"messages": [{"id": wamid}]}, {}))
    assert await sender.handle(ctx, [Entry("1-0", {"message_id": str(message_id)})]) == {}
    now = datetime.now(UTC)
    await events.record(ctx, [StatusChange(message_id, DELIVERED, now, "meta", wamid=wamid)])
    return message_id, wamid


async def forward_hub_events(ctx: Context) -> list[str]:
    """The real Hub forwarder on every entry of the hub stream; returns the event ids."""
    entries = [Entry(i, f) for i, f in await ctx.redis.xrange(HUB_STREAM)]
    await ctx.redis.delete(HUB_STREAM)
    assert await hub_forwarder.handle(ctx, entries) == {}
    return [e.fields["event_id"] for e in entries]


async def _refuse(ctx: Context, entries: list[Entry]) -> dict[str, str]:
    return {e.id: "refused for the test" for e in entries}


# The webhook processor dead-letters nothing it can read (an unusable body reaches the Hub as
# `webhook.unparsed`); a handler that refuses every entry stands in for a failure.
refusing_webhooks = Consumer("webhooks", WEBHOOKS_STREAM, WEBHOOK_PROCESSORS_GROUP, _refuse)


async def run_until_dead(ctx: Context, consumer: Consumer, fields: dict[str, str]) -> None:
    """The real runner reads an entry its consumer rejects and dead-letters it."""
    stop = asyncio.Event()
    runner = Runner(consumer, ctx, "ops-test", stop, block_ms=20)
    await runner.ensure_group()
    dead = f"{consumer.stream}:dead"
    before = await ctx.redis.xlen(dead)
    task = asyncio.create_task(runner.run())
    await ctx.redis.xadd(consumer.stream, fields)
    try:
        for _ in range(200):
            if await ctx.redis.xlen(dead) > before:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("nothing was dead-lettered")
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_message_by_id_or_wamid_shows_state_timeline_events_and_attempts(
    ctx, edge, ops
) -> None:
    message_id, wamid = await sent_message(ctx, edge)
    sent_event, delivered_event = (
        events.event_id(str(message_id), "sent"),
        events.event_id(str(message_id), "delivered"),
    )
    edge.answer(sent_event, (503, {}, {}))
    assert set(await forward_hub_events(ctx)) == {sent_event, delivered_event}

    # As the runner writes it when an entry keeps failing (tests/consumers/test_runner.py).
    dead = {"message_id": str(message_id), "source_id": "1-0", "error": "delivered 6 times"}
    dead_id = await ctx.redis.xadd(f"{OUTBOUND}:dead", {**dead, "deliveries": "6"})

    text = ok(await ops("message", str(message_id)))
    assert f"message {message_id} (outbound)" in text
    assert any(dead_id in line and "delivered 6 times" in line for line in text.splitlines())
    assert "delivered" in text and wamid in text
    for status, source in (("queued", "api"), ("sending", "sender"), ("sent", "sender")):
        assert any(status in line and source in line for line in text.splitlines())
    assert f"{sent_event}  message.status (sent)  pending  attempts=1" in text
    assert f"{delivered_event}  message.status (delivered)  delivered  attempts=1" in text

    report = orjson.loads(ok(await ops("message", wamid, "--json")))
    assert (report["id"], report["status"], report["wamid"]) == (str(message_id), DELIVERED, wamid)
    assert [t["status"] for t in report["timeline"]] == ["queued", "sending", "sent", "delivered"]
    assert [d["id"] for d in report["dead_letters"]] == [dead_id]
    codes = {e["id"]: [a["status_code"] for a in e["deliveries"]] for e in report["hub_events"]}
    assert codes == {sent_event: [503], delivered_event: [200]}

    missing = await ops("message", str(uuid.uuid4()))
    assert missing.returncode == 1 and "no message" in missing.stderr


async def test_a_sending_message_says_who_holds_it_and_whether_its_call_may_have_left(
    ctx, ops
) -> None:
    held = []
    for to in ("4915100000001", "4915100000002"):
        m = NewMessage(uuid.uuid4(), None, "0" * 64, to, "text", {}, None, NUMBER)
        await messages.insert(ctx.pool, m)
        [row] = await claims.claim(ctx.pool, [m.id], "worker-7", NUMBER)
        held.append((m.id, row["sending_at"]))
    await claims.mark_left(ctx.pool, "worker-7", held[:1])
    marked, unmarked = [ok(await ops("message", str(i))) for i, _ in held]
    assert "worker-7; its Meta call may have left at" in marked
    assert "worker-7; its Meta call has not started" in unmarked
    report = orjson.loads(ok(await ops("message", str(held[0][0]), "--json")))
    assert (report["claimed_by"], report["left_at"] is not None) == ("worker-7", True)


async def test_inbound_message_by_wamid_shows_its_event_but_not_its_text(ctx, ops) -> None:
    wamid = f"wamid.in.{uuid.uuid4().hex}"
    raw = {"from": "4915100000009", "id": wamid, "type": "text", "text": {"body": SECRET_TEXT}}
    now = datetime.now(UTC)
    received = NewInbound(wamid, "106540352242922", "4915100000009", "Alice", "text", now, raw)
    await events.record(ctx, received=[received])
    [event_id] = await forward_hub_events(ctx)

    text = ok(await ops("message", wamid))
    assert f"inbound message {wamid}" in text and "Alice" in text
    assert f"{event_id}  message.received  delivered  attempts=1" in text


async def test_streams_show_length_lag_pending_idle_consumers_and_dead_letters(
    ctx, redis, ops
) -> None:
    runner = Runner(sender.consumer(ctx.settings.numbers[NUMBER]), ctx, "unused", asyncio.Event())
    await runner.ensure_group()
    ids = [str(uuid.uuid4()) for _ in range(3)]
    entry_ids = [await redis.xadd(OUTBOUND, {"message_id": i}) for i in ids]
    # A consumer that took two entries and died: they stay pending, the third is lag.
    await redis.xreadgroup(SENDERS_GROUP, "crashed-1", {OUTBOUND: ">"}, count=2)
    await redis.xadd(f"{OUTBOUND}:dead", {"message_id": "x", "error": "boom"})

    report = orjson.loads(ok(await ops("streams", "--json")))
    by_name = {s["stream"]: s for s in report["streams"]}
    outbound = by_name[OUTBOUND]
    assert (outbound["length"], outbound["lag"], outbound["pending"]) == (3, 1, 2)
    assert outbound["dead_letters"] == 1 and outbound["oldest_entry_age_ms"] >= 0
    assert [(c["name"], c["pending"]) for c in outbound["consumers"]] == [("crashed-1", 2)]
    pending = [(p["id"], p["message_id"], p["deliveries"]) for p in outbound["pending_entries"]]
    assert pending == [(entry_ids[0], ids[0], 1), (entry_ids[1], ids[1], 1)]
    assert not by_name[HUB_STREAM]["group_exists"]
    assert by_name[WEBHOOKS_STREAM]["length"] == 0

    text = ok(await ops("streams"))
    lines = text.splitlines()
    assert lines[0].split() == [
        "STREAM", "GROUP", "LENGTH", "OLDEST", "LAG", "PENDING", "CONSUMERS", "DEAD"
    ]  # fmt: skip
    row = next(line.split() for line in lines if line.startswith(OUTBOUND))
    assert row[:3] == [OUTBOUND, SENDERS_GROUP, "3"] and row[4:] == ["1", "2", "1", "1"]
    assert f"{HUB_FORWARDERS_GROUP} (missing)" in text
    assert any(entry_ids[0] in line and "crashed-1" in line for line in lines)


async def test_streams_say_which_consumers_are_live_and_list_the_live_workers(
    ctx, redis, ops
) -> None:
    """A consumer is live while its worker's heartbeat (named after it) exists."""
    live = ctx.liveness.worker_id
    await ctx.liveness.serve((Role("sender", NUMBER), Role("hub")))
    await redis.xgroup_create(OUTBOUND, SENDERS_GROUP, id="0", mkstream=True)
    for name in (live, "crashed-2"):
        await redis.xgroup_createconsumer(OUTBOUND, SENDERS_GROUP, name)

    report = orjson.loads(ok(await ops("streams", "--json")))
    outbound = next(s for s in report["streams"] if s["stream"] == OUTBOUND)
    assert {c["name"]: c["live"] for c in outbound["consumers"]} == {live: True, "crashed-2": False}
    assert report["workers"] == [{"id": live, "roles": ["hub", f"sender:{NUMBER}"]}]

    lines = ok(await ops("streams")).splitlines()
    assert next(line.split() for line in lines if live in line and OUTBOUND in line)[-1] == "yes"
    assert next(line.split() for line in lines if "crashed-2" in line)[-1] == "no"
    assert "live workers (1)" in lines
    assert next(line.split() for line in lines if line.strip().startswith(live)) == [
        live, "hub", f"sender:{NUMBER}"
    ]  # fmt: skip


async def test_dead_shows_dead_letter_entries_and_dead_hub_events_with_reasons(
    ctx, edge, ops
) -> None:
    await run_until_dead(
        ctx, sender.consumer(ctx.settings.numbers[NUMBER]), {"message_id": "not-a-uuid"}
    )
    await run_until_dead(ctx, refusing_webhooks, {"body": f"a body {SECRET_TEXT}"})
    message_id, _ = await sent_message(ctx, edge)
    sent_event = events.event_id(str(message_id), "sent")
    edge.answer(sent_event, (400, {}, {}))
    await forward_hub_events(ctx)

    report = orjson.loads(ok(await ops("dead", "--json")))
    entries = {e["stream"]: e for e in report["entries"]}
    outbound = entries[f"{OUTBOUND}:dead"]
    assert (outbound["message_id"], outbound["error"]) == ("not-a-uuid", "message_id is not a UUID")
    hook = entries[f"{WEBHOOKS_STREAM}:dead"]
    assert hook["error"] == "refused for the test" and hook["body_bytes"] > 0
    assert "body" not in hook
    [dead_event] = report["hub_events"]
    assert (dead_event["id"], dead_event["message_id"]) == (sent_event, str(message_id))
    assert "HTTP 400" in dead_event["last_error"]

    text = ok(await ops("dead"))
    assert "dead-letter entries (2)" in text and "message_id is not a UUID" in text
    assert "dead Hub events (1)" in text and sent_event in text and "HTTP 400" in text

    # Replayed and refused again: its attempts are every POST, as `ops message` counts them.
    edge.answer(sent_event, (400, {}, {}))
    ok(await ops("replay", "--id", sent_event))
    await scheduler.publish_due(ctx)
    await forward_hub_events(ctx)
    [dead_event] = orjson.loads(ok(await ops("dead", "--json")))["hub_events"]
    assert (dead_event["attempts"], dead_event["schedule_attempts"]) == (2, 1)
    [row] = [line for line in ok(await ops("dead")).splitlines() if sent_event in line]
    assert re.search(r"\s2\s+HTTP 400", row), row


async def test_replay_gives_dead_hub_events_a_fresh_schedule(ctx, edge, ops, pool) -> None:
    message_id, _ = await sent_message(ctx, edge)
    sent_event, delivered_event = (events.event_id(str(message_id), s) for s in ("sent", DELIVERED))
    edge.answer(sent_event, (400, {}, {}))
    edge.answer(delivered_event, (400, {}, {}))
    await forward_hub_events(ctx)

    by_id = await ops("replay", "--id", sent_event)
    assert ok(by_id) == f"{sent_event}\n"
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert orjson.loads(ok(await ops("replay", "--since", future, "--json"))) == {"hub_events": []}
    assert ok(await ops("replay", "--all")) == f"{delivered_event}\n"
    rows = await pool.fetch("SELECT status, attempts FROM hub_events ORDER BY id")
    assert [tuple(r) for r in rows] == [("pending", 0), ("pending", 0)]
    assert (await ops("replay")).returncode == 2  # says which, or refuses


async def test_a_message_shows_its_number_deadline_and_every_post_of_a_replayed_event(
    ctx, edge, ops
) -> None:
    message_id, to = uuid.uuid4(), "4915100000003"
    expires_at = datetime(2031, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    new = NewMessage(message_id, None, "0" * 64, to, "text", {}, None, NUMBER, expires_at)
    await messages.insert(ctx.pool, new)
    edge.answer(to, (200, {"messages": [{"id": f"wamid.{uuid.uuid4().hex}"}]}, {}))
    assert await sender.handle(ctx, [Entry("1-0", {"message_id": str(message_id)})]) == {}
    sent_event = events.event_id(str(message_id), "sent")
    edge.answer(sent_event, (400, {}, {}))  # dead at once: the Hub refused it
    await forward_hub_events(ctx)
    ok(await ops("replay", "--id", sent_event))
    await scheduler.publish_due(ctx)
    await forward_hub_events(ctx)  # delivered this time

    text = ok(await ops("message", str(message_id)))
    facts = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in text.splitlines()[1:12])
    assert facts["from number"] == NUMBER
    assert facts["expires_at"] == "2031-01-02T03:04:05.678Z"
    assert facts["meta calls"] == "1"
    assert f"{sent_event}  message.status (sent)  delivered  attempts=2" in text
    assert "(1 in its current retry schedule)" in text
    report = orjson.loads(ok(await ops("message", str(message_id), "--json")))
    assert (report["phone_number_id"], report["expires_at"]) == (NUMBER, expires_at.isoformat())
    [event] = report["hub_events"]
    assert (event["attempts"], event["schedule_attempts"], len(event["deliveries"])) == (2, 1, 2)
    assert (report["caller"], report["pricing"]) == ("default", None)


async def test_a_message_shows_who_sent_it_and_what_meta_priced_it(ctx, edge, ops, pool) -> None:
    message_id, to = uuid.uuid4(), "4915100000004"
    new = NewMessage(message_id, None, "0" * 64, to, "text", {}, None, NUMBER, caller="billing")
    await messages.insert(ctx.pool, new)

    def facts(text: str) -> dict[str, str]:
        lines = text.split("\n\n")[0].splitlines()[1:]
        return dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in lines)

    shown = facts(ok(await ops("message", str(message_id))))
    assert (shown["caller"], shown["pricing"]) == ("billing", "- (no status priced it yet)")
    await pool.execute(
        "UPDATE messages SET pricing_billable = true, pricing_model = 'PMP',"
        " pricing_type = 'regular', pricing_category = 'marketing',"
        " priced_at = '2026-12-07T10:00:00Z' WHERE id = $1",
        message_id,
    )
    shown = facts(ok(await ops("message", str(message_id))))
    assert shown["pricing"] == "billable, marketing (regular, PMP) since 2026-12-07T10:00:00.000Z"


async def test_replaying_unknown_ids_fails_naming_them(ctx, edge, ops) -> None:
    message_id, _ = await sent_message(ctx, edge)
    sent_event = events.event_id(str(message_id), "sent")
    edge.answer(sent_event, (400, {}, {}))
    await forward_hub_events(ctx)
    proc = await ops("replay", "--id", sent_event, "--id", "evt_doesnotexist")
    assert proc.returncode == 1
    assert proc.stdout == f"{sent_event}\n"  # the dead one is replayed all the same
    assert "evt_doesnotexist" in proc.stderr and sent_event not in proc.stderr
    entries = await ops("replay", "--stream", f"outbound:{NUMBER}", "--id", "1-0")
    assert entries.returncode == 1 and "1-0" in entries.stderr


async def test_replay_puts_dead_letter_entries_back_on_their_stream(ctx, redis, ops) -> None:
    await run_until_dead(
        ctx, sender.consumer(ctx.settings.numbers[NUMBER]), {"message_id": "first"}
    )
    await run_until_dead(
        ctx, sender.consumer(ctx.settings.numbers[NUMBER]), {"message_id": "second"}
    )
    dead = [i for i, _ in await redis.xrange(f"{OUTBOUND}:dead")]
    await redis.delete(OUTBOUND)

    ambiguous = await ops("replay", "--stream", "outbound", "--all")  # two numbers: which?
    assert ambiguous.returncode == 2 and f"messaging:outbound:{{{NUMBER}}}" in ambiguous.stderr
    stream = f"outbound:{{{NUMBER}}}"
    moved = orjson.loads(ok(await ops("replay", "--stream", stream, "--id", dead[1], "--json")))
    [m] = moved["entries"]
    assert (m["dead_id"], m["stream"]) == (dead[1], OUTBOUND)
    assert await redis.xrange(OUTBOUND) == [(m["new_id"], {"message_id": "second"})]
    assert [i for i, _ in await redis.xrange(f"{OUTBOUND}:dead")] == [dead[0]]

    text = ok(await ops("replay", "--stream", f"{OUTBOUND}:dead", "--all"))
    assert text.startswith(f"{dead[0]} -> {OUTBOUND} ")
    assert [f for _, f in await redis.xrange(OUTBOUND)] == [
        {"message_id": "second"},
        {"message_id": "first"},
    ]
    assert await redis.xlen(f"{OUTBOUND}:dead") == 0
    bad = await ops("replay", "--stream", "nope", "--all")
    assert bad.returncode == 2 and "unknown stream" in bad.stderr


async def test_foreign_statuses_are_listed_and_named_when_a_wamid_is_not_ours(ctx, ops) -> None:
    assert (
        await webhook_processor.handle(ctx, [Entry("1-0", {"body": status_post("wamid.x")})]) == {}
    )
    await ctx.pool.execute("UPDATE held_statuses SET hold_until = now()")
    await status_matching.retry_held(ctx)
    text = ok(await ops("foreign"))
    assert "statuses that changed no message of ours (1)" in text and "wamid.x" in text
    [row] = orjson.loads(ok(await ops("foreign", "--wamid", "wamid.x", "--json")))["statuses"]
    assert (row["wamid"], row["status"], row["foreign_at"] is not None) == (
        "wamid.x",
        "delivered",
        True,
    )
    missing = await ops("message", "wamid.x")
    assert missing.returncode == 1 and "ops foreign --wamid wamid.x" in missing.stderr
