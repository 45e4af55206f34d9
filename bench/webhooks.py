"""Scenario `webhooks`: Meta's signed status POSTs to /webhooks/whatsapp/ (verify + publish).

Only the web process runs: the figure is the ingest's, each 200 one entry on the webhooks
stream (checked). Then 1,000-status batch POSTs, as Meta sends them at its top tier, one at
a time: each must be answered within 250 ms.
"""

from __future__ import annotations

import time
import uuid

import httpx
import orjson

from bench.load import Target
from bench.scenario import Bench, Result
from core.names import webhook_streams
from simulator.meta_webhooks import envelope, sign, status_object

RATE, P99_MS, BATCH_MS = 10_000, 10, 250
_BATCHES = 20
WEBHOOKS_STREAM = webhook_streams()[0]  # the one shard (STREAM_SHARDS=1, the default)


def _statuses_body(phone_number_id: str, count: int) -> bytes:
    now = time.time()
    statuses = [
        status_object(
            f"wamid.bench{i:06d}", {"status": "delivered"}, "4915112345678", now, str(uuid.uuid4())
        )
        for i in range(count)
    ]
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
        "statuses": statuses,
    }
    return orjson.dumps(envelope(phone_number_id, value))


async def run(bench: Bench) -> Result:
    stack = await bench.start("web")
    secret, phone = stack.env["WHATSAPP_APP_SECRET"], stack.env["WHATSAPP_PHONE_NUMBER_ID"]
    url = f"{stack.api}/webhooks/whatsapp/"
    body = _statuses_body(phone, 1)
    target = Target(
        url=url,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, body)},
        body=body,
    )

    result = Result("webhooks")
    label = "webhook ingest (1 status per POST)"
    warm, load = await bench.measured_load(result, label, target, WEBHOOKS_STREAM, RATE, P99_MS)

    accepted = warm.ok + load.ok
    entries = await bench.redis.xlen(WEBHOOKS_STREAM)
    result.checks["every answered POST is one stream entry (and no more than in flight)"] = (
        accepted <= entries <= accepted + 2 * bench.args.connections
    )
    last = await bench.redis.xrevrange(WEBHOOKS_STREAM, count=1)
    result.checks["the stream holds Meta's body byte for byte"] = (
        bool(last) and last[0][1]["body"].encode() == body
    )

    batch = _statuses_body(phone, 1000)
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, batch)}
    timings, codes = [], set()
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(_BATCHES):
            started = time.perf_counter()
            response = await http.post(url, content=batch, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            codes.add(response.status_code)
    timings.sort()
    result.row(
        f"1,000-status batch POST ({len(batch) // 1024} KB, {_BATCHES} in a row)",
        f"p50 {timings[len(timings) // 2]:.1f} ms, max {timings[-1]:.1f} ms",
        f"<= {BATCH_MS} ms",
        timings[-1] <= BATCH_MS and codes == {200},
    )
    result.checks["every batch POST answered 200 and stored"] = (
        codes == {200} and await bench.redis.xlen(WEBHOOKS_STREAM) == entries + _BATCHES
    )
    return result
