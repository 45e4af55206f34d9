"""`python -m ops retention` and the `body` line of `ops message`, as an operator runs them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import asyncpg
import orjson
import pytest

from tests.consumers.test_retention import OLD, hub_event, message
from tests.ops.test_cli import ok, ops  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]  # a process per question


async def test_retention_counts_what_each_table_has_still_to_purge(
    ops,  # noqa: F811
    pool: asyncpg.Pool,
) -> None:
    await message(pool, "sent", OLD)
    await message(pool, "queued", OLD)  # never purged
    await message(pool, "sent", datetime.now(UTC))
    await hub_event(pool, "delivered", OLD)

    waiting = orjson.loads(ok(await ops("retention", "--days", "30", "--json")))["waiting"]
    text = ok(await ops("retention", "--days", "30"))

    assert waiting == {
        "messages": 1,
        "inbound_messages": 0,
        "hub_events": 1,
        "webhook_changes": 0,
        "held_statuses": 0,
    }
    assert "rows older than 30 days" in text and "body purged, once past sending" in text
    assert "retention is off" in ok(await ops("retention"))  # RETENTION_DAYS unset: 0


async def test_a_purged_message_says_when_its_body_went(ops, pool: asyncpg.Pool) -> None:  # noqa: F811
    kept = await message(pool, "read", OLD)
    purged = await message(pool, "read", OLD, purged=datetime.now(UTC))

    assert re.search(r"\n  body +kept\n", ok(await ops("message", str(kept))))
    assert "31 days after it was created (retention)" in ok(await ops("message", str(purged)))
