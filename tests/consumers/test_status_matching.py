"""Statuses for a wamid we do not know, on real PostgreSQL and Redis: held, matched once the
sender's write lands, or kept as foreign when the hold runs out; never dropped, never twice."""

from __future__ import annotations

import orjson
import pytest

from consumers import status_matching, webhook_processor, worker_metrics
from consumers.runner import Entry
from core.names import HUB_STREAM
from db import messages
from tests.db.test_statuses import new_message
from tests.whatsapp.test_notifications import FIXTURES


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {"STATUS_HOLD_S": "30"}


def status_post(wamid: str, status: str = "delivered") -> str:
    """Meta's status webhook for `wamid`, without our callback data (another app's send, or
    a status that outran the sender's write of the wamid)."""
    payload = orjson.loads((FIXTURES / "status_delivered.json").read_bytes())
    item = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    item.update(id=wamid, status=status)
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
