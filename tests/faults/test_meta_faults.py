"""Meta misbehaving for a while: server errors, then bursts of its throughput error (130429).
Every message is retried until Meta takes it, exactly once."""

from __future__ import annotations

import pytest

from tests.faults.counts import assert_promise, settled_counts
from tests.faults.harness import burst

pytestmark = pytest.mark.timeout(120)


async def test_meta_5xx_for_a_while(make_stack):
    fs = await make_stack()
    await fs.scenario(
        to="*",
        windows=[
            {"from_s": 0.2, "until_s": 1.2, "response": {"status": 500}},
            {"from_s": 1.2, "until_s": 2.0, "response": {"status": 503}},
        ],
    )
    c = await settled_counts(fs, "meta 5xx for 1.8 s", await burst(fs, spread_s=1.5))
    assert c.meta["rejected"] > 0, "the outage did not hit any send"
    assert_promise(c)
    assert c.terminal == {"read": c.accepted}


async def test_meta_130429_bursts(make_stack):
    fs = await make_stack()
    throttled = {"status": 429, "code": 130429}
    await fs.scenario(
        to="*",
        windows=[
            {"from_s": start, "until_s": start + 0.5, "response": throttled}
            for start in (0.2, 1.2, 2.2)
        ],
    )
    c = await settled_counts(fs, "meta 130429 bursts (3 x 0.5 s)", await burst(fs, spread_s=2.5))
    assert c.meta["rejected"] > 0, "no burst hit any send"
    assert_promise(c)
    assert c.terminal == {"read": c.accepted}
