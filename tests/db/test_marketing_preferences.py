"""Marketing preferences on real PostgreSQL: per number and contact, the latest by Meta's
time wins, a replay or an older fact changes nothing (and is not reported as a change), and
a lookup by any of a user's names finds the latest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from db import marketing_preferences
from db.marketing_preferences import Preference

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
N, C, BSUID = "106540352242922", "4915112345678", "US.13491208655302741918"


def fact(value: str, minutes: float, contact: str = C, number: str = N) -> Preference:
    return Preference(number, contact, value, T0 + timedelta(minutes=minutes), "user_preferences")


# label, batches of facts in arrival order, the changes each batch reports, latest value
CASES = [
    ("a stop", [[fact("stop", 0)]], [1], "stop"),
    ("a replay changes nothing", [[fact("stop", 0)], [fact("stop", 0)]], [1, 0], "stop"),
    ("resume after stop", [[fact("stop", 0)], [fact("resume", 5)]], [1, 1], "resume"),
    ("an older stop after a resume", [[fact("resume", 5)], [fact("stop", 0)]], [1, 0], "resume"),
    ("both in one batch: the latest", [[fact("resume", 5), fact("stop", 0)]], [1], "resume"),
    ("same time in one batch: stop wins", [[fact("resume", 0), fact("stop", 0)]], [1], "stop"),
]


@pytest.mark.parametrize(
    ("label", "batches", "changed", "latest"), CASES, ids=[c[0] for c in CASES]
)
async def test_the_latest_by_metas_time_wins(
    pool: asyncpg.Pool, label, batches, changed, latest
) -> None:
    reported = [len(await marketing_preferences.record(pool, batch)) for batch in batches]
    assert reported == changed
    found = await marketing_preferences.get(pool, N, [C])
    assert found is not None and found.value == latest


async def test_a_user_is_found_by_any_of_their_names(pool: asyncpg.Pool) -> None:
    await marketing_preferences.record(pool, [fact("stop", 0, BSUID), fact("resume", 5, C)])
    assert (await marketing_preferences.get(pool, N, [BSUID])).stopped  # type: ignore[union-attr]
    both = await marketing_preferences.get(pool, N, [C, BSUID])
    assert both is not None and both.value == "resume"  # the latest of either name


async def test_preferences_are_per_number(pool: asyncpg.Pool) -> None:
    await marketing_preferences.record(pool, [fact("stop", 0, number="999")])
    assert await marketing_preferences.get(pool, N, [C]) is None
    assert await marketing_preferences.get(pool, N, []) is None
