"""The Hub down for the first seconds of a burst (its retry schedule shortened by settings):
every event arrives once by id after it recovers, none is dead-lettered."""

from __future__ import annotations

import pytest

from tests.faults.counts import assert_promise, settled_counts
from tests.faults.harness import burst

pytestmark = pytest.mark.timeout(120)
HUB_DOWN_S = 4


async def test_hub_down_for_the_first_seconds(make_stack):
    fs = await make_stack()
    await fs.hub_fails(for_s=HUB_DOWN_S, status=503)
    c = await settled_counts(fs, f"hub down (503) for the first {HUB_DOWN_S} s", await burst(fs))
    assert c.hub["failed_on_purpose"] > 0, "no delivery hit the outage"
    assert_promise(c)
    assert c.terminal == {"read": c.accepted}
