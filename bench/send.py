"""Scenario `send`: POST /api/v1/messages/send/ at N connections, then drain and check.

During the load only the web process (and the simulator and sink, idle) runs: the figure is
the API's, each 202 a stored, queued message. Then the worker starts and sends everything to
the simulator, which must count every stored message exactly once; each `sent` reaches the
Hub sink once. The drain rate is printed for information (the drain scenario measures it).
"""

from __future__ import annotations

import httpx
import orjson

from bench.load import Target
from bench.scenario import Bench, Result, wait_for
from core.names import outbound_stream

RATE, P99_MS = 5000, 25
_BODY = {
    "to": "+4915112345678",
    "type": "text",
    "text": {"body": "Your order #42 has shipped"},
    "metadata": {"order_id": 42},
}


async def run(bench: Bench) -> Result:
    # No status webhooks: this scenario checks sends; the full loop checks the rest.
    stack = await bench.start("sim", "sink", "web", SIM_WEBHOOK_URL="")
    target = Target(
        url=f"{stack.api}/api/v1/messages/send/",
        headers=stack.headers(),
        body=orjson.dumps(_BODY),
    )

    result = Result("send")
    stream = outbound_stream(stack.env["WHATSAPP_PHONE_NUMBER_ID"])
    warm, load = await bench.measured_load(result, "send API", target, stream, RATE, P99_MS)

    accepted = warm.ok + load.ok
    in_flight = 2 * bench.args.connections  # answered after wrk stopped counting
    stored = await bench.fetch_count("SELECT count(*) FROM messages")
    queued = await bench.fetch_count("SELECT count(*) FROM messages WHERE status = 'queued'")
    result.checks["every accepted message stored (and no more than in flight)"] = (
        accepted <= stored <= accepted + in_flight
    )
    result.checks["every stored message queued and published once"] = (
        queued == stored == await bench.redis.xlen(stream)
    )

    await bench.add("worker")
    async with httpx.AsyncClient(timeout=10) as http:

        async def sim_accepted() -> int:
            return (await http.get(f"{stack.sim}/_sim/stats")).json()["accepted"]

        async def hub_unique() -> int:
            return (await http.get(f"{stack.sink}/_sink/stats")).json()["unique"]

        drain_s = await wait_for(sim_accepted, stored, "sent to the simulator", 900)
        await wait_for(hub_unique, stored, "Hub `sent` events", 900)
        sim = (await http.get(f"{stack.sim}/_sim/stats")).json()
        sink = (await http.get(f"{stack.sink}/_sink/stats")).json()
    result.row(
        "drain after the load (information)",
        f"{stored:,} messages to the simulator in {drain_s:.1f} s ({stored / drain_s:,.0f} msg/s)",
    )
    result.checks["every stored message sent to the simulator exactly once"] = (
        sim["accepted"] == stored and sim["duplicates"] == 0
    )
    result.checks["every `sent` Hub event received once"] = (
        sink["unique"] == stored and sink["rejected"] == 0
    )
    result.details["simulator"] = sim
    result.details["hub_sink"] = sink
    return result
