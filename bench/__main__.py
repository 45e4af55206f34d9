"""`python -m bench`: the benchmark, scenario by scenario, on the real stack.

Starts PostgreSQL and Redis (embedded unless DATABASE_URL / REDIS_URL are set; each
scenario gets a fresh `messaging_bench` database and an empty Redis database), then runs
the chosen scenarios, each on its own processes (web, worker, Meta simulator, Hub sink as
the scenario needs them), printing progress, and writes `bench-report.md` and
`bench-report.json`: throughput, p50/p95/p99, errors, CPU and RSS per process, the targets
and the checks of what was measured (every accepted message stored, sent exactly once...).

The load generator runs on the same machine, so its CPU counts against the same cores:
wrk (`apt-get install wrk`) when installed, else the asyncio generator (`--load`).

Scenarios are small functions in `SCENARIOS` below, each taking a `Bench` (see
`bench.scenario`) and returning a `Result`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

from bench import drain, idle, loop, send, webhooks
from bench.load import wrk_available
from bench.procs import cpu_reference_ms
from bench.report import markdown
from bench.scenario import Bench, Result, running_services

SCENARIOS: dict[str, Callable[[Bench], Awaitable[Result]]] = {
    "send": send.run,
    "webhooks": webhooks.run,
    "drain": drain.run_drain,
    "scale": drain.run_scale,
    "numbers": drain.run_numbers,
    "loop": loop.run_loop,
    "soak": loop.run_soak,
    "idle": idle.run,
}


async def _run(args: argparse.Namespace) -> list[Result]:
    results = []
    async with running_services(args.redis_cluster) as (server_url, redis_url):
        for name in args.scenario or list(SCENARIOS):
            print(f"== scenario {name}", flush=True)
            bench = Bench(args, server_url, redis_url)
            try:
                results.append(await SCENARIOS[name](bench))
            finally:
                await bench.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        help="run only this scenario (repeatable); default: all, in this order",
    )
    parser.add_argument("--seconds", type=float, default=10, help="length of each load phase")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--load",
        choices=["wrk", "asyncio"],
        default="wrk" if wrk_available() else "asyncio",
        help="load generator (default: wrk if installed)",
    )
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument(
        "--web-workers",
        type=int,
        default=2,
        help="WEB_WORKERS of the web process (default 2: one per core of the target machine)",
    )
    parser.add_argument(
        "--drain-messages", type=int, default=60_000, help="backlog of drain and scale"
    )
    parser.add_argument("--loop-rate", type=float, default=500, help="sends/s of the full loop")
    parser.add_argument("--loop-seconds", type=float, default=60, help="length of the full loop")
    parser.add_argument(
        "--soak-seconds", type=float, default=300, help="length of the soak (at half the rate)"
    )
    parser.add_argument("--idle-seconds", type=float, default=60, help="length of the idle run")
    parser.add_argument(
        "--redis-url-query",
        default="",
        help="appended to the processes' REDIS_URL, e.g. max_connections=1000 (pool size)",
    )
    parser.add_argument(
        "--redis-cluster",
        action="store_true",
        help="run on a Redis Cluster: a 6-node one of /usr/bin/redis-server (3 masters, 3 "
        "replicas), or REDIS_URL's node if set; the processes get REDIS_CLUSTER=true",
    )
    parser.add_argument("--out", default="bench-report", help="report path without suffix")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting for every process, e.g. WEB_WORKERS=1",
    )
    args = parser.parse_args()
    args.cpu_reference_ms = cpu_reference_ms()  # the machine's speed, for comparing reports
    results = uvloop.run(_run(args))
    report = {"scenarios": [r.as_dict() for r in results], "args": vars(args)}
    Path(f"{args.out}.json").write_text(json.dumps(report, indent=2, default=str))
    Path(f"{args.out}.md").write_text(markdown(results, args))
    print(markdown(results, args))
    print(f"written {args.out}.md and {args.out}.json")
    raise SystemExit(0 if all(all(r.checks.values()) for r in results) else 1)


if __name__ == "__main__":
    main()
