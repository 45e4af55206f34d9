"""Meta misbehaving for a while in the middle of a burst: server errors, then bursts of its
throughput error (130429). Every message is retried until Meta takes it, exactly once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults.counts import assert_promise, settled_counts
from tests.faults.harness import FaultStack, Sent, burst_with_fault

pytestmark = pytest.mark.timeout(120)


async def _meta_fails(fs: FaultStack, label: str, windows: list[dict[str, Any]]) -> None:
    async def fault(sent: Sent) -> None:
        await fs.scenario(to="*", windows=windows)

    sent, _ = await burst_with_fault(fs, fault, after_meta_accepted=100)
    c = await settled_counts(fs, label, sent)
    assert c.meta["rejected"] > 0, "the fault hit no send"
    assert_promise(c)
    assert c.terminal == {"read": c.accepted}


async def test_meta_5xx_for_a_while(make_stack):
    fs = await make_stack()
    windows = [
        {"from_s": 0, "until_s": 1, "response": {"status": 500}},
        {"from_s": 1, "until_s": 2, "response": {"status": 503}},
    ]
    await _meta_fails(fs, "meta 5xx for 2 s mid-burst", windows)


async def test_meta_130429_bursts(make_stack):
    fs = await make_stack()
    throttled = {"status": 429, "code": 130429}
    windows = [
        {"from_s": start, "until_s": start + 0.5, "response": throttled} for start in (0, 1, 2)
    ]
    await _meta_fails(fs, "meta 130429 bursts (3 x 0.5 s) mid-burst", windows)
