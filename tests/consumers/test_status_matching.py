"""Statuses for a wamid we do not know, on real PostgreSQL and Redis: held, matched once the
sender's write lands, or kept as foreign when the hold runs out; never dropped, never twice.
A status naming a message of ours counts only when its webhook's business number, and its
recipient where Meta gives one, are the message's; else it goes the same way as unknown."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import orjson
import pytest

from consumers import status_matching, webhook_processor, worker_metrics
from consumers.runner import Entry
from db import messages
from db.messages import NewMessage
from tests.db.test_statuses import new_message
from tests.support.settings import HUB_STREAM, NUMBER
from tests.whatsapp.test_notifications import FIXTURES

OTHER = "106540352242923"  # a second business number of ours
TEXT = "your code is 4711"  # the message's text: never in a log line
R = new_message().recipient


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {"STATUS_HOLD_S": "30", "WHATSAPP_PHONE_NUMBER_ID": f"{NUMBER},{OTHER}"}


def status_post(wamid: str, status: str = "delivered", recipient_id: str = R) -> str:
    """Meta's status webhook for `wamid`, without our callback data (another app's send, or
    a status that outran the sender's write of the wamid)."""
    payload = orjson.loads((FIXTURES / "status_delivered.json").read_bytes())
    item = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    item.update(id=wamid, status=status, recipient_id=recipient_id)
    item.pop("biz_opaque_callback_data", None)
    return orjson.dumps(payload).decode()


async def process(ctx, *bodies: str) -> None:
    entries = [Entry(f"1-{i}", {"body": b}) for i, b in enumerate(bodies)]
    assert await webhook_processor.handle(ctx, entries) == {}


async def test_a_status_that_outran_the_senders_write_is_applied_once_it_lands(ctx, pool, redis):
    message = new_message()
    await messages.insert(pool, message)
    await process(ctx, status_post("wamid.late"), status_post("wamid.late"))  # Meta's retry too
    held = await pool.fetch("SELECT wamid, status, foreign_at FROM held_statuses")
    assert [tuple(r) for r in held] == [("wamid.late", "delivered", None)]
    assert await status_matching.retry_held(ctx) == {"matched": 0, "foreign": 0}

    await pool.execute("UPDATE messages SET wamid = 'wamid.late' WHERE id = $1", message.id)
    assert await status_matching.retry_held(ctx) == {"matched": 1, "foreign": 0}
    assert (await messages.get(pool, message.id))["status"] == "delivered"
    assert await pool.fetchval("SELECT count(*) FROM held_statuses") == 0
    [(_, entry)] = await redis.xrange(HUB_STREAM)
    assert (entry["type"], entry["message_id"]) == ("message.status", str(message.id))


async def test_a_status_no_message_claims_is_kept_as_foreign_when_its_hold_runs_out(ctx, pool):
    before = worker_metrics.FOREIGN_STATUSES.labels("read")._value.get()
    await process(ctx, status_post("wamid.elsewhere", "read"))
    await pool.execute("UPDATE held_statuses SET hold_until = now() - interval '1 second'")
    assert await status_matching.retry_held(ctx) == {"matched": 0, "foreign": 1}
    assert await status_matching.retry_held(ctx) == {"matched": 0, "foreign": 0}  # once
    row = await pool.fetchrow("SELECT status, foreign_at FROM held_statuses")
    assert row["status"] == "read" and row["foreign_at"] is not None
    assert worker_metrics.FOREIGN_STATUSES.labels("read")._value.get() == before + 1


async def read_message(pool, recipient: str = R) -> NewMessage:
    """A message of ours from NUMBER to `recipient`, already `read`, wamid `wamid.<id>`."""
    m = replace(
        new_message(), recipient=recipient, payload={"type": "text", "text": {"body": TEXT}}
    )
    await messages.insert(pool, m)
    await pool.execute(
        "UPDATE messages SET status = 'read', wamid = $2 WHERE id = $1", m.id, f"wamid.{m.id.hex}"
    )
    return m


def failed_post(
    wamid: str,
    number: str | None,
    recipient_id: str | None,
    callback: str | None = None,
    user_id: str | None = None,
) -> str:
    """Meta's `failed` status webhook (recorded fixture) from business `number` about `wamid`;
    None leaves the field out (a BSUID user's status has no recipient_id)."""
    payload = orjson.loads((FIXTURES / "status_failed_131026.json").read_bytes())
    value = payload["entry"][0]["changes"][0]["value"]
    item = value["statuses"][0]
    item.update(id=wamid, recipient_id=recipient_id, biz_opaque_callback_data=callback)
    item.update(recipient_user_id=user_id)
    value["metadata"]["phone_number_id"] = number
    for fields in (item, value["metadata"]):
        for key in [k for k, v in fields.items() if v is None]:
            del fields[key]
    return orjson.dumps(payload).decode()


USER, USER2 = "US.13491208655302741918", "US.20731208655302741777"
PARENT = "US.ENT.11815799212886844830"
BR9, BR8 = "5511987654321", "551187654321"  # a Brazilian mobile with and without its 9


@dataclass(frozen=True)
class Cross:
    label: str
    number: str | None  # the webhook's metadata.phone_number_id
    recipient: str  # the number we sent to
    recipient_id: str | None  # Meta's wa_id in the status
    applied: bool
    by_callback: bool = False  # named by our id, else by wamid
    user_id: str | None = None  # Meta's recipient_user_id in the status


CROSS = [
    Cross("our number and recipient", NUMBER, R, R, True),
    Cross("our number and recipient, by our id", NUMBER, R, R, True, by_callback=True),
    Cross("another number's webhook naming our wamid", OTHER, R, R, False),
    Cross("another number's webhook naming our id", OTHER, R, R, False, by_callback=True),
    Cross("a webhook naming no number", None, R, R, False),
    Cross("our number, another recipient", NUMBER, R, "4915199999999", False),
    Cross("our number, another recipient, by our id", NUMBER, R, "4915199999999", False, True),
    Cross("no recipient_id (a BSUID user): the number decides", NUMBER, R, None, True),
    Cross("no recipient_id from another number", OTHER, R, None, False),
    Cross("Brazil: Meta's wa_id without the ninth digit we sent", NUMBER, BR9, BR8, True),
    Cross("Brazil: Meta's wa_id with a ninth digit we left out", NUMBER, BR8, BR9, True),
    Cross("Brazil: a 9 anywhere else is another user", NUMBER, BR8, "5511876543219", False),
    Cross(
        "Mexico: Meta's wa_id with the 1 after 52", NUMBER, "525512345678", "5215512345678", True
    ),
    Cross(
        "Argentina: Meta's wa_id with the 9 after 54", NUMBER, "541151234567", "5491151234567", True
    ),
    Cross("Germany: an extra digit is another user", NUMBER, R, "49151123456789", False),
    Cross("sent by number, the status adds the BSUID", NUMBER, R, R, True, user_id=USER),
    Cross("sent by BSUID: no recipient_id, its BSUID", NUMBER, USER, None, True, user_id=USER),
    Cross("sent by BSUID, another BSUID", NUMBER, USER, None, False, user_id=USER2),
    Cross("sent by parent BSUID, the user's BSUID", NUMBER, PARENT, None, True, user_id=USER),
    Cross("sent by BSUID, no ids at all: the number decides", NUMBER, USER, None, True),
]


@pytest.mark.parametrize("case", CROSS, ids=[c.label for c in CROSS])
async def test_a_status_is_applied_only_when_number_and_recipient_match(ctx, pool, case: Cross):
    m = await read_message(pool, case.recipient)
    wamid, callback = f"wamid.{m.id.hex}", None
    if case.by_callback:  # Meta's answer was lost: only our id links the status to it
        await pool.execute("UPDATE messages SET wamid = NULL WHERE id = $1", m.id)
        wamid, callback = "wamid.unanswered", str(m.id)
    await process(ctx, failed_post(wamid, case.number, case.recipient_id, callback, case.user_id))

    assert (await messages.get(pool, m.id))["status"] == ("failed" if case.applied else "read")
    assert await pool.fetchval("SELECT count(*) FROM held_statuses") == (not case.applied)


async def test_a_status_from_another_number_is_held_then_foreign_and_logged_why(
    ctx, pool, caplog
) -> None:
    """The issue's case: number OTHER's signed webhook names NUMBER's wamid of a `read`
    message; it never makes that message `failed`."""
    m = await read_message(pool)
    before = worker_metrics.FOREIGN_STATUSES.labels("failed")._value.get()
    with caplog.at_level(logging.INFO, logger="consumers.status_matching"):
        await process(ctx, failed_post(f"wamid.{m.id.hex}", OTHER, m.recipient))
        await pool.execute("UPDATE held_statuses SET hold_until = now() - interval '1 second'")
        assert await status_matching.retry_held(ctx) == {"matched": 0, "foreign": 1}

    assert (await messages.get(pool, m.id))["status"] == "read"
    assert worker_metrics.FOREIGN_STATUSES.labels("failed")._value.get() == before + 1
    [foreign] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "business number" in foreign.getMessage()
    assert (foreign.message_id, foreign.phone_number_id) == (str(m.id), OTHER)
    assert TEXT not in caplog.text and m.recipient not in caplog.text


async def test_a_held_status_that_later_names_another_numbers_message_is_never_applied(
    ctx, pool
) -> None:
    """Held before the sender wrote the wamid: matched again, the same check applies."""
    m = await read_message(pool)
    await pool.execute("UPDATE messages SET wamid = NULL WHERE id = $1", m.id)
    await process(ctx, failed_post("wamid.late", OTHER, m.recipient))
    await pool.execute("UPDATE messages SET wamid = 'wamid.late' WHERE id = $1", m.id)

    assert await status_matching.retry_held(ctx) == {"matched": 0, "foreign": 0}
    await pool.execute("UPDATE held_statuses SET hold_until = now() - interval '1 second'")
    assert await status_matching.retry_held(ctx) == {"matched": 0, "foreign": 1}
    assert (await messages.get(pool, m.id))["status"] == "read"
