"""Scenario `idle`: the whole stack up, no traffic: what the service costs doing nothing.

Consumers block on XREADGROUP (STREAM_BLOCK_MS, 1 s deployed), the scheduler polls every
RETRY_POLL_S and the sweeper runs every SWEEP_INTERVAL_S: CPU must stay near zero, and web
+ worker memory (RSS, and PSS, which counts the pages forked web workers share once) under
200 MB together, so the smallest Railway instances hold both.
"""

from __future__ import annotations

import asyncio

from bench.procs import load_average
from bench.scenario import Bench, Result
from bench.shared import DEPLOYED

MEMORY_MB = 200
CPU_PERCENT = 1.0  # of one core, web + worker together: 0.6 CPU seconds per idle minute
_SETTLE_S = 5
_SERVICE = ("web", "worker")


async def run(bench: Bench) -> Result:
    await bench.start("sim", "sink", "web", "worker", **DEPLOYED)
    seconds = bench.args.idle_seconds
    await asyncio.sleep(_SETTLE_S)  # start-up work (imports, pools, groups) done
    meter = bench.usage()
    meter.start()
    print(f"idle: {seconds:.0f} s without traffic", flush=True)
    await asyncio.sleep(seconds)
    result = Result("idle")
    result.processes = usage = meter.stop()
    rss = sum(usage[name]["rss_mb"] for name in _SERVICE)
    pss = sum(usage[name]["pss_mb"] for name in _SERVICE)
    cpu = sum(usage[name]["cpu_percent"] for name in _SERVICE)
    workers = bench.args.web_workers
    result.row(
        f"web ({workers} worker{'s' if workers > 1 else ''}) + worker memory",
        f"RSS {rss:.0f} MB, PSS {pss:.0f} MB (web {usage['web']['rss_mb']:.0f} / "
        f"{usage['web']['pss_mb']:.0f}, worker {usage['worker']['rss_mb']:.0f} / "
        f"{usage['worker']['pss_mb']:.0f})",
        f"< {MEMORY_MB} MB RSS",
        rss < MEMORY_MB,
    )
    result.row(
        f"CPU seconds over {seconds:.0f} idle seconds",
        ", ".join(f"{name} {u['cpu_percent'] * seconds / 100:.2f}" for name, u in usage.items()),
        f"web + worker < {CPU_PERCENT:g}% of one core ({CPU_PERCENT * seconds / 100:.1f} s)",
        cpu < CPU_PERCENT,
    )
    result.details["load_average"] = load_average()
    return result
