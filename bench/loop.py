"""Scenarios `loop` and `soak`: sends at a steady rate through the whole service.

The paced generator POSTs sends at `--loop-rate` (soak: half of it for `--soak-seconds`);
the simulator answers each send and returns `sent`, `delivered` and `read` statuses 50 ms
apart, batched into POSTs every 20 ms (up to 1,000 statuses each) as Meta batches them;
the worker records each and forwards it to the Hub sink, signed. Every second the sampler
reads throughput and the backlog (XLEN, pending) of every stream: it must not grow. The
soak also samples each process's RSS every 10 s: flat after the warm-up.
"""

from __future__ import annotations

import asyncio
import itertools
import resource
import time
from typing import Any

import asyncpg
import orjson

from bench.load import Target
from bench.paced import paced
from bench.procs import load_average
from bench.sampler import Sampler, slope
from bench.scenario import Bench, Result
from bench.send import _BODY
from bench.shared import DEPLOYED, Sim, full_seconds, rate_summary

EVENTS_PER_MESSAGE = 3  # sent, delivered, read
_WARM_UP_S = 5
_SERVICE = ("web", "worker")
_RSS_GROWTH = 0.10


async def run_loop(bench: Bench) -> Result:
    return await loop(bench, "loop", bench.args.loop_rate, bench.args.loop_seconds)


async def run_soak(bench: Bench) -> Result:
    return await loop(bench, "soak", bench.args.loop_rate / 2, bench.args.soak_seconds, 10)


async def loop(bench: Bench, name: str, rate: float, seconds: float, rss_every: int = 0) -> Result:
    stack = await bench.start("sim", "sink", "web", "worker", **DEPLOYED)
    target = Target(f"{stack.api}/api/v1/messages/send/", stack.headers(), orjson.dumps(_BODY))
    result = Result(name)
    sim = Sim(stack.sim, stack.sink)
    numbers = tuple(stack.env["WHATSAPP_PHONE_NUMBER_ID"].split(","))
    sampler = Sampler(sim, bench.redis, bench.usage, numbers, rss_every)
    try:
        meter = bench.usage()
        meter.start()
        sampler.start()
        print(f"{name}: {rate:,.0f} sends/s for {seconds:.0f} s", flush=True)
        cpu_before = _self_cpu_s()
        load = await paced(target, rate, seconds)
        generator_cpu = 100 * (_self_cpu_s() - cpu_before) / load.seconds
        result.processes = meter.stop()
        load_samples = len(sampler.samples)
        accepted = load.ok
        settled = await _until_settled(sim, accepted, timeout_s=60)
        samples = await sampler.stop()
        stats, sink = await sim.sim(), await sim.sink()
    finally:
        await sim.close()
    result.processes["load generator + sampler (asyncio)"] = {
        "processes": 1,
        "cpu_percent": round(generator_cpu, 1),
        "rss_mb": "",
    }
    during = samples[_WARM_UP_S:load_samples]
    _throughput(result, rate, load, stats, during)
    _backlogs(result, during, rate)
    if rss_every:
        _rss(result, samples, seconds)
    read = await bench.fetch_count("SELECT count(*) FROM messages WHERE status = 'read'")
    delivered = await bench.fetch_count(
        "SELECT count(*) FROM hub_events WHERE status = 'delivered'"
    )
    outbox = await _outbox(bench)
    result.row(
        "all settled after the load",
        f"in {settled:.1f} s; Hub events received {sink['unique']:,} of "
        f"{EVENTS_PER_MESSAGE * accepted:,}; outbox {outbox['counts']}",
    )
    result.details["outbox"] = outbox
    result.checks["every send accepted (202), no connection error"] = (
        load.non_2xx == 0 and load.connection_errors == 0 and accepted == int(rate * seconds)
    )
    result.checks["every message sent once (simulator duplicates 0)"] = (
        stats["accepted"] == accepted and stats["duplicates"] == 0
    )
    result.checks["every message `read` in PostgreSQL"] = read == accepted
    result.checks["3 Hub events per message, each received once, signed"] = (
        sink["unique"] == EVENTS_PER_MESSAGE * accepted
        and sink["duplicates"] == 0
        and sink["rejected"] == 0
        and delivered == EVENTS_PER_MESSAGE * accepted
    )
    result.checks["every status webhook answered 200"] = stats["webhook_failures"] == 0
    result.details.update(
        load=load.as_dict(), simulator=_without_seconds(stats), hub_sink=sink, samples=samples
    )
    result.details["load_average"] = load_average()
    return result


async def _until_settled(sim: Sim, accepted: int, timeout_s: float) -> float:
    """Seconds until every Hub event of every accepted message reached the sink."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        if (await sim.sink())["unique"] >= EVENTS_PER_MESSAGE * accepted:
            break
        await asyncio.sleep(0.5)
    return time.perf_counter() - start


async def _outbox(bench: Bench) -> dict[str, Any]:
    """hub_events by status, and the first events not delivered (to tell a lost stream
    entry, waiting for the sweeper, from a delivery that failed)."""
    conn = await asyncpg.connect(bench.database_url)
    try:
        counts = await conn.fetch("SELECT status, count(*) AS n FROM hub_events GROUP BY 1")
        stragglers = await conn.fetch(
            "SELECT id, type, payload->'data'->>'status' AS status, attempts, created_at,"
            " published_at FROM hub_events WHERE status <> 'delivered' ORDER BY created_at"
            " LIMIT 10"
        )
    finally:
        await conn.close()
    return {
        "counts": {r["status"]: r["n"] for r in counts},
        "not_delivered": [{k: str(v) for k, v in dict(r).items()} for r in stragglers],
    }


def _self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _throughput(
    result: Result, rate: float, load: Any, stats: dict, during: list[dict[str, Any]]
) -> None:
    sends = rate_summary(full_seconds(stats["per_second"]))
    hub = rate_summary([b["hub"] - a["hub"] for a, b in itertools.pairwise(during)])
    result.row(
        f"sends at {rate:,.0f}/s (paced)",
        f"{load.requests_per_s:,.0f} req/s, p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms, "
        f"non-2xx {load.non_2xx}",
    )
    result.row(
        "messages to Meta (simulator, per second)",
        f"median {sends['median']:,.0f}, min {sends['min']:,.0f}, max {sends['max']:,.0f} msg/s",
        f">= {rate:,.0f} msg/s",
        sends["median"] >= rate * 0.98,
    )
    result.row(
        "Hub events (sink, per second after warm-up)",
        f"median {hub['median']:,.0f}, min {hub['min']:,.0f} events/s",
        f">= {EVENTS_PER_MESSAGE * rate:,.0f} events/s",
        hub["median"] >= EVENTS_PER_MESSAGE * rate * 0.98,
    )


def _backlogs(result: Result, during: list[dict[str, Any]], rate: float) -> None:
    """Not growing: the least-squares growth of XLEN over the run adds up to less than one
    second of the send rate (a stream falling behind grows by its deficit every second)."""
    if not during:
        return
    for stream in during[0]["backlog"]:
        lengths = [s["backlog"][stream]["xlen"] for s in during]
        pending = [s["backlog"][stream]["pending"] for s in during]
        growth = slope(lengths)
        result.row(
            f"backlog `{stream}` (xlen / pending, every second)",
            f"max {max(lengths):,} / {max(pending):,}, mean {sum(lengths) / len(lengths):,.0f}; "
            f"growth {growth:+.1f} entries/s",
            f"not growing (< {rate:,.0f} entries over the run)",
            growth * len(lengths) < rate,
        )


def _rss(result: Result, samples: list[dict[str, Any]], seconds: float) -> None:
    """RSS flat after the warm-up (a fifth of the run, at most 60 s): the highest later
    sample at most 10% above the first one after it; checked for the service's processes,
    shown for the rest (the simulator and the sink remember every send and event id)."""
    warm = min(60, seconds / 5)
    series = [s for s in samples if "rss_mb" in s and s["t"] <= seconds + 1]
    after = [s for s in series if s["t"] >= warm]
    if len(after) < 2:
        return
    base, rest = after[0]["rss_mb"], after[1:]
    for name, first in base.items():
        top = max(s["rss_mb"].get(name, 0) for s in rest)
        growth = (top - first) / first if first else 0.0
        service = name in _SERVICE
        result.row(
            f"RSS `{name}` after {after[0]['t']} s warm-up -> max to the end",
            f"{first:.0f} -> {top:.0f} MB ({growth:+.1%}); samples "
            + " ".join(f"{s['rss_mb'].get(name, 0):.0f}" for s in series),
            f"<= +{_RSS_GROWTH:.0%}" if service else "(information)",
            growth <= _RSS_GROWTH if service else None,
        )


def _without_seconds(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if k != "per_second"}
