"""core.batcher: grouping, failures (shared or split), cancellation, the result count."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from core.batcher import Batcher


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


def group_commit(write: Callable[[list[str]], Awaitable[list[str]]]) -> Batcher[str, str]:
    """The worker's settings: one flush at a time, split failures, outages shared."""
    return Batcher(
        write,
        max_in_flight=1,
        max_batch=None,
        split_failures=True,
        shared_failures=(ConnectionError,),
    )


async def writing(store: Store, group: Batcher[str, str], part: str) -> asyncio.Task[str]:
    """Submit `part` and wait until the writer has it in hand (held: it waits for release)."""
    [task] = await started(group.submit(part))
    await until(lambda: [part] in store.groups)
    return task


async def test_parts_submitted_during_a_write_share_the_next_one() -> None:
    store = Store()
    group = group_commit(store.write)
    first = await writing(store, group, "a")
    rest = await started(*(group.submit(p) for p in "bcd"))
    store.release("a")
    assert await asyncio.gather(first, *rest) == ["A", "B", "C", "D"]
    assert store.groups == [["a"], ["b", "c", "d"]]


async def test_a_bad_part_fails_alone() -> None:
    store = Store(fail_on="c")
    group = group_commit(store.write)
    first = await writing(store, group, "a")
    rest = await started(*(group.submit(p) for p in "bcd"))
    store.release("a")
    results = await asyncio.gather(first, *rest, return_exceptions=True)
    assert results[:2] == ["A", "B"] and results[3] == "D"
    assert isinstance(results[2], ValueError)
    assert store.groups == [["a"], ["b", "c", "d"], ["b"], ["c"], ["d"]]


async def test_an_outage_fails_the_group_without_splitting_it() -> None:
    store = Store(fail_on="c", error=ConnectionRefusedError)
    group = group_commit(store.write)
    first = await writing(store, group, "a")
    rest = await started(*(group.submit(p) for p in "bcd"))
    store.release("a")
    results = await asyncio.gather(first, *rest, return_exceptions=True)
    assert results[0] == "A"
    assert all(isinstance(r, ConnectionRefusedError) for r in results[1:])
    assert store.groups == [["a"], ["b", "c", "d"]]


async def test_a_caller_cancelled_mid_write_leaves_the_others_written() -> None:
    store = Store(hold="ab")
    group = group_commit(store.write)
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
    group = group_commit(store.write)
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

    group = group_commit(short)
    with pytest.raises(ValueError, match="flush returned 0 results for 1 items"):
        await asyncio.wait_for(group.submit("a"), 1)


async def test_without_split_a_bad_item_fails_its_whole_batch() -> None:
    store = Store(fail_on="c")
    batcher = Batcher(store.write, max_in_flight=1)
    first = await writing(store, batcher, "a")
    rest = await started(*(batcher.submit(p) for p in "bcd"))
    store.release("a")
    results = await asyncio.gather(first, *rest, return_exceptions=True)
    assert results[0] == "A" and all(isinstance(r, ValueError) for r in results[1:])
    assert store.groups == [["a"], ["b", "c", "d"]]


async def test_batches_are_capped_and_run_side_by_side() -> None:
    store = Store(hold="ad")
    batcher = Batcher(store.write, max_in_flight=2, max_batch=2)
    tasks = await started(*(batcher.submit(p) for p in "abcde"))
    await until(lambda: len(store.groups) == 2)
    assert store.groups == [["a", "b"], ["c", "d"]]  # two in flight, two items each
    store.release("a")
    store.release("d")
    assert await asyncio.gather(*tasks) == ["A", "B", "C", "D", "E"]
    assert store.groups[2:] == [["e"]]
    await batcher.close()
