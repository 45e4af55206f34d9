"""The service on a real Redis Cluster (3 masters, 3 replicas): the message loop, and a
master killed mid-burst with its replica promoted, which must lose nothing.

What a failover can lose (acknowledged writes the replica never got: stream entries,
consumer-group state, acks) is recovered from PostgreSQL: the sweeper publishes again what
is queued or pending, and the claim in PostgreSQL keeps each send to one (docs/guarantees.md).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import orjson
import pytest

from core.names import hub_streams, webhook_streams
from harness.cluster import Cluster
from tests.cluster.conftest import ClusterStack
from tests.conftest import ROOT
from tests.e2e.test_loop import eventually
from tests.faults.counts import assert_promise, settled_counts
from tests.faults.harness import Sent, burst, burst_with_fault
from tests.support.settings import OUTBOUND, WEBHOOKS_STREAM

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]
HEALTH = {"Authorization": "Bearer health-token-1"}


async def test_message_loop_on_a_cluster(make_stack, cluster: Cluster) -> None:
    """Sends reach Meta once and the Hub hears every status; an inbound message reaches the
    Hub; the webhook and Hub-event shards carry traffic; /health/, /metrics and `ops streams`
    answer from the cluster, found by asking the server (REDIS_CLUSTER=auto)."""
    fs = await make_stack(REDIS_CLUSTER="auto", STREAM_SHARDS="3", WEBHOOK_WAIT_REPLICAS="1")
    sent = await burst(fs, 60, concurrency=16)
    r = await fs.http.post(
        f"{fs.stack.sim}/_sim/inbound", json={"from": "4915100000009", "name": "Ada", "text": "hi"}
    )
    assert r.status_code == 200, r.text
    wamid = r.json()["wamid"]
    assert_promise(await settled_counts(fs, "cluster: the message loop", sent))
    [received] = await eventually(lambda: _events(fs, wamid=wamid))
    assert received["event"]["data"]["text"] == {"body": "hi"}

    used = [s for s in (*webhook_streams(3), *hub_streams(3)) if await _ever_written(fs, s)]
    assert len([s for s in used if "webhooks" in s]) >= 2, used
    assert len([s for s in used if "hub-events" in s]) >= 2, used

    health = await fs.http.get(f"{fs.stack.api}/health/", headers=HEALTH)
    assert health.status_code == 200, health.text
    assert set(webhook_streams(3)) | set(hub_streams(3)) <= set(health.json()["streams"])
    metrics = await fs.http.get(f"{fs.stack.api}/metrics", headers=HEALTH)
    assert "messaging_redis_up 1.0" in metrics.text
    ops = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ops", "streams", "--json"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **{k: fs.stack.env[k] for k in _OPS_ENV}},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ops.returncode == 0, ops.stderr
    listed = {s["stream"] for s in orjson.loads(ops.stdout)["streams"]}
    assert {OUTBOUND, *used} <= listed


_OPS_ENV = ("DATABASE_URL", "REDIS_URL", "WHATSAPP_PHONE_NUMBER_ID")


@pytest.mark.parametrize("holding", [OUTBOUND, WEBHOOKS_STREAM], ids=["outbound", "webhooks"])
async def test_a_master_killed_mid_burst_loses_nothing(
    make_stack, cluster: Cluster, holding: str
) -> None:
    """While 300 sends are under way, the replica of the master holding the number's stream
    (its rate schedule and pause too), or the webhook stream, falls a second behind; the
    master is killed (-9) and the replica takes over (CLUSTER FAILOVER TAKEOVER): the writes
    of that second (entries, acks, group state) are gone. Every accepted message ends
    terminal, none is sent twice, every status Meta reported reaches the Hub: PostgreSQL had
    the rest, and no webhook got its 200 before a replica held it."""
    fs = await make_stack(WEBHOOK_WAIT_REPLICAS="1")
    master = cluster.master_of(holding)
    replica = cluster.replica_of(master)

    async def fail_over(sent: Sent) -> int:
        stalled = cluster.stall(replica, 1.5)
        await asyncio.sleep(1)
        lost = await asyncio.to_thread(cluster.unreplicated_bytes, master)
        await asyncio.to_thread(cluster.kill, master)
        await asyncio.to_thread(stalled.wait, 10)
        await asyncio.to_thread(cluster.takeover, replica)
        return lost

    try:
        sent, lost = await burst_with_fault(
            fs, fail_over, after_accepted=100, after_meta_accepted=30, count=300, spread_s=4
        )
        what = f"master killed {lost} bytes ahead of its replica, which took over"
        label = f"cluster: the master of {holding} killed mid-burst"
        c = await settled_counts(fs, label, sent, fault=what)
    finally:
        await asyncio.to_thread(cluster.rejoin, master)
    print("recovered from PostgreSQL:", _republished(fs.stack.log("worker")))
    assert lost > 0, "the replica had every write: nothing was lost to recover"
    assert_promise(c, redelivery_ok=True)


def _republished(worker_log: str) -> dict[str, int]:
    """What the sweeper published again, summed over its log lines."""
    totals: dict[str, int] = {}
    for line in worker_log.splitlines():
        if '"msg":"sweep republished' in line:
            for part in orjson.loads(line)["msg"].split()[1:]:
                key, _, value = part.partition("=")
                totals[key] = totals.get(key, 0) + int(value)
    return totals


async def _events(fs: ClusterStack, **filters: str) -> list[dict[str, Any]]:
    r = await fs.http.get(f"{fs.stack.sink}/_sink/events", params=filters)
    return r.json()["events"]


async def _ever_written(fs: ClusterStack, stream: str) -> bool:
    """Handled entries are deleted: a stream that took any has a last id past 0-0."""
    try:
        info = await fs.redis("XINFO", "STREAM", stream)
    except Exception:  # never created
        return False
    return info["last-generated-id"] not in ("0-0", b"0-0")
