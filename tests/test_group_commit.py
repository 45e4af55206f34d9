"""Group commit: grouping, a bad part failing alone, cancellation; then on real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import pytest
from redis.asyncio import Redis

from consumers import events
from consumers.group_commit import GroupCommit
from db import messages
from db.inbound import NewInbound
from db.statuses import StatusChange
from server.constants import HUB_STREAM
from tests.edge import recording_context
from tests.test_statuses import new_message


class Store:
    """A write that records each group it got; a group holding a part named in `hold` waits
    until that part is released."""

    def __init__(self, hold: str = "a", fail_on: str = "", error: type[Exception] = ValueError):
        self.groups: list[list[str]] = []
        self.held = {p: asyncio.Event() for p in hold}
        self.fail_on, self.error = fail_on, error

    async def write(self, parts: list[str]) -> list[str]:
        self.groups.append(parts)
        for p in parts:
            if p in self.held:
                await self.held[p].wait()
        if self.fail_on in parts:
            raise self.error(self.fail_on)
        return [p.upper() for p in parts]

    def release(self, part: str) -> None:
        self.held[part].set()


async def started(*coros: object) -> list[asyncio.Task[str]]:
    tasks = [asyncio.ensure_future(c) for c in coros]  # type: ignore[arg-type]
    await asyncio.sleep(0)
    return tasks


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def writing(store: Store, group: GroupCommit[str, str], part: str) -> asyncio.Task[str]:
    """Submit `part` and wait until the writer has it in hand (held: it waits for release)."""
    [task] = await started(group.submit(part))
    await until(lambda: [part] in store.groups)
    return task


async def test_parts_submitted_during_a_write_share_the_next_one() -> None:
    store = Store()
    group = GroupCommit(store.write)
    first = await writing(store, group, "a")
    rest = await started(*(group.submit(p) for p in "bcd"))
    store.release("a")
    assert await asyncio.gather(first, *rest) == ["A", "B", "C", "D"]
    assert store.groups == [["a"], ["b", "c", "d"]]


async def test_a_bad_part_fails_alone() -> None:
    store = Store(fail_on="c")
    group = GroupCommit(store.write)
    first = await writing(store, group, "a")
    rest = await started(*(group.submit(p) for p in "bcd"))
    store.release("a")
    results = await asyncio.gather(first, *rest, return_exceptions=True)
    assert results[:2] == ["A", "B"] and results[3] == "D"
    assert isinstance(results[2], ValueError)
    assert store.groups == [["a"], ["b", "c", "d"], ["b"], ["c"], ["d"]]


async def test_an_outage_fails_the_group_without_splitting_it() -> None:
    store = Store(fail_on="c", error=ConnectionRefusedError)
    group = GroupCommit(store.write)
    first = await writing(store, group, "a")
    rest = await started(*(group.submit(p) for p in "bcd"))
    store.release("a")
    results = await asyncio.gather(first, *rest, return_exceptions=True)
    assert results[0] == "A"
    assert all(isinstance(r, ConnectionRefusedError) for r in results[1:])
    assert store.groups == [["a"], ["b", "c", "d"]]


async def test_a_caller_cancelled_mid_write_leaves_the_others_written() -> None:
    store = Store(hold="ab")
    group = GroupCommit(store.write)
    first = await writing(store, group, "a")
    gone, other = await started(group.submit("b"), group.submit("c"))
    store.release("a")
    await until(lambda: store.groups[-1] == ["b", "c"])
    gone.cancel()  # its part is in the write already
    store.release("b")
    assert (await first, await other) == ("A", "C")
    assert store.groups == [["a"], ["b", "c"]]
    with pytest.raises(asyncio.CancelledError):
        await gone


async def test_a_part_cancelled_before_its_turn_is_not_written() -> None:
    store = Store()
    group = GroupCommit(store.write)
    first = await writing(store, group, "a")
    [gone] = await started(group.submit("b"))
    gone.cancel()
    await asyncio.sleep(0)
    store.release("a")
    assert await first == "A"
    assert await group.submit("c") == "C"
    assert store.groups == [["a"], ["c"]]


async def test_a_write_with_a_result_missing_fails_its_callers_instead_of_hanging() -> None:
    async def short(parts: list[str]) -> list[str]:
        return [p.upper() for p in parts][1:]

    group = GroupCommit(short)
    with pytest.raises(ValueError, match="0 results for 1 parts"):
        await asyncio.wait_for(group.submit("a"), 1)


async def test_concurrent_batches_about_the_same_messages_make_each_event_once(
    pool: asyncpg.Pool, redis: Redis
) -> None:
    ctx = recording_context(pool, redis)
    ids = []
    for _ in range(3):
        m = new_message()
        await messages.insert(pool, m)
        ids.append(m.id)
    now = datetime.now(UTC)
    wamid = f"wamid.in.{uuid.uuid4().hex}"
    hello = NewInbound(wamid, "1065", "4915100000009", None, "text", now, {"id": wamid})
    batches = [
        [StatusChange(i, s, now, "meta", wamid=f"wamid.{i}") for i in ids]
        for s in ("sent", "delivered", "read", "delivered", "sent")
    ]
    made = await asyncio.gather(
        *(events.record(ctx, b, [hello]) for b in batches),
        events.record(ctx, received=[hello]),
    )
    got = [e.id for batch in made for e in batch]
    expected = {events.event_id(str(i), s) for i in ids for s in ("sent", "delivered", "read")}
    assert sorted(got) == sorted(expected | {events.event_id("inbound", wamid)})
    assert made[3] == made[4] == made[5] == []  # repeats: nothing new
    assert sorted(f["event_id"] for _, f in await redis.xrange(HUB_STREAM)) == sorted(got)
    rows = await pool.fetch("SELECT status FROM messages WHERE id = ANY($1)", ids)
    assert {r["status"] for r in rows} == {"read"}
