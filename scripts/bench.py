"""`python -m scripts.bench`: the baseline benchmark, on the real stack.

Starts PostgreSQL and Redis (embedded unless DATABASE_URL / REDIS_URL are set; the benchmark
creates and drops its own database), the web process, the worker, the Meta simulator (with
its status webhooks on) and a Hub sink, then:

1. **send API**: POST /api/v1/messages/send/ from N keep-alive connections for D seconds,
   using the asyncio load generator below (raw HTTP/1.1 on uvloop, on the same machine, so
   its CPU counts against the service's 2 cores);
2. **end-to-end**: from the first request until the simulator has accepted every message the
   API accepted (API -> stream -> sender -> Meta), and until the Hub sink has every `read`
   event (-> webhook -> PostgreSQL -> Hub).

It checks what it measured (every accepted message stored and sent exactly once, every read
event received) and writes `bench-report.md` and `bench-report.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import uvloop
from redis.asyncio import Redis

from db.migrate import migrate
from scripts.embedded import DEFAULT_DATA_DIR, services
from scripts.stack import Stack, new_stack, with_database

_CLK_TCK = os.sysconf("SC_CLK_TCK")


class Load:
    """Latencies and status counts of one load run."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.codes: dict[int, int] = {}
        self.errors = 0

    def summary(self, seconds: float) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else 0.0

        return {
            "requests": len(lat),
            "requests_per_s": round(len(lat) / seconds, 1),
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "mean_ms": round(statistics.fmean(lat) * 1000, 2) if lat else 0.0,
            "status_codes": self.codes,
            "connection_errors": self.errors,
        }


async def _connection(host: str, port: int, request: bytes, until: float, load: Load) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        load.errors += 1
        return
    try:
        while time.perf_counter() < until:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            load.latencies.append(time.perf_counter() - start)
            code = int(head[9:12])
            load.codes[code] = load.codes.get(code, 0) + 1
    except (OSError, asyncio.IncompleteReadError):
        load.errors += 1
    finally:
        writer.close()


def _send_request(stack: Stack, port: int) -> bytes:
    body = orjson.dumps(
        {
            "to": "+4915112345678",
            "type": "text",
            "text": {"body": "Your order #42 has shipped"},
            "metadata": {"order_id": 42},
        }
    )
    head = (
        f"POST /api/v1/messages/send/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Api-Key: {stack.api_key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _cpu_rss(pid: int) -> tuple[float, int]:
    """(CPU seconds so far, RSS bytes) of one process, from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / _CLK_TCK
    rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


def _usage(stack: Stack, before: dict[str, float], seconds: float) -> dict[str, Any]:
    out = {}
    for name, proc in stack.procs.items():
        cpu, rss = _cpu_rss(proc.pid)
        out[name] = {
            "cpu_percent": round(100 * (cpu - before[name]) / seconds, 1),
            "rss_mb": round(rss / 2**20, 1),
        }
    return out


async def _progress(label: str, load: Load, until: float) -> None:
    while (left := until - time.perf_counter()) > 0:
        await asyncio.sleep(min(1.0, left))
        print(f"  {label}: {len(load.latencies)} requests, {load.errors} errors", flush=True)


async def _wait_for(probe: Any, target: int, label: str, timeout_s: float) -> float:
    """Seconds until `probe()` reaches `target`; prints progress."""
    start = time.perf_counter()
    last = -1
    while (value := await probe()) < target:
        if time.perf_counter() - start > timeout_s:
            raise TimeoutError(f"{label}: {value}/{target} after {timeout_s}s")
        if value != last:
            print(f"  {label}: {value}/{target}", flush=True)
            last = value
        await asyncio.sleep(0.25)
    return time.perf_counter() - start


async def bench(stack: Stack, database_url: str, seconds: float, connections: int) -> dict:
    port = int(stack.env["PORT"])
    request = _send_request(stack, port)
    http = httpx.AsyncClient(timeout=10)
    before = {n: _cpu_rss(p.pid)[0] for n, p in stack.procs.items()}
    print(f"send API: {connections} connections for {seconds:.0f}s", flush=True)
    load = Load()
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(
        _progress("send API", load, until),
        *(_connection("127.0.0.1", port, request, until, load) for _ in range(connections)),
    )
    send_s = time.perf_counter() - started
    send_usage = _usage(stack, before, send_s)
    accepted = load.codes.get(202, 0)

    async def sim_accepted() -> int:
        return (await http.get(f"{stack.sim}/_sim/stats")).json()["accepted"]

    async def hub_reads() -> int:
        return (await http.get(f"{stack.sink}/_sink/stats")).json()["unique"]

    print("end-to-end: waiting for the simulator and the Hub sink", flush=True)
    await _wait_for(sim_accepted, accepted, "sent to Meta", 600)
    drained_s = time.perf_counter() - started
    await _wait_for(hub_reads, 3 * accepted, "Hub events", 600)
    loop_s = time.perf_counter() - started

    conn = await asyncpg.connect(database_url)
    stored = await conn.fetchval("SELECT count(*) FROM messages")
    read = await conn.fetchval("SELECT count(*) FROM messages WHERE status = 'read'")
    await conn.close()
    sim = (await http.get(f"{stack.sim}/_sim/stats")).json()
    sink = (await http.get(f"{stack.sink}/_sink/stats")).json()
    await http.aclose()
    checks = {
        "every accepted message stored": stored == accepted,
        "every message sent to Meta exactly once": sim["accepted"] == accepted
        and sim["duplicates"] == 0,
        "every message read": read == accepted,
        "every Hub event received once (sent, delivered, read)": sink["unique"] == 3 * accepted
        and sink["rejected"] == 0,
    }
    return {
        "machine": {"cpus": os.cpu_count()},
        "send_api": {
            **load.summary(send_s),
            "connections": connections,
            "seconds": round(send_s, 1),
            "processes": send_usage,
        },
        "end_to_end": {
            "messages": accepted,
            "api_to_meta_messages_per_s": round(accepted / drained_s, 1),
            "api_to_hub_read_messages_per_s": round(accepted / loop_s, 1),
            "seconds_to_meta": round(drained_s, 1),
            "seconds_to_hub_read": round(loop_s, 1),
            "simulator": {k: sim[k] for k in ("accepted", "duplicates", "max_per_second")},
            "hub_sink": sink,
        },
        "checks": checks,
    }


def _markdown(r: dict) -> str:
    s, e = r["send_api"], r["end_to_end"]
    lines = [
        "# Benchmark report",
        "",
        f"{r['machine']['cpus']} CPUs; load generator on the same machine.",
        "",
        "| scenario | result |",
        "|---|---|",
        f"| send API ({s['connections']} conns, {s['seconds']} s) | {s['requests_per_s']} req/s, "
        f"p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, p99 {s['p99_ms']} ms, "
        f"codes {s['status_codes']}, conn errors {s['connection_errors']} |",
        f"| end-to-end API -> Meta | {e['api_to_meta_messages_per_s']} msg/s "
        f"({e['messages']} messages in {e['seconds_to_meta']} s) |",
        f"| end-to-end API -> Hub `read` | {e['api_to_hub_read_messages_per_s']} msg/s "
        f"({e['seconds_to_hub_read']} s) |",
        "",
        "| process (during send API) | CPU % | RSS MB |",
        "|---|---|---|",
        *(f"| {n} | {u['cpu_percent']} | {u['rss_mb']} |" for n, u in s["processes"].items()),
        "",
        "| check | ok |",
        "|---|---|",
        *(f"| {name} | {'yes' if ok else '**NO**'} |" for name, ok in r["checks"].items()),
    ]
    return "\n".join(lines) + "\n"


async def _run(args: argparse.Namespace) -> tuple[dict, Path]:
    # _servers keeps embedded PostgreSQL and Redis alive until the run ends.
    pg, redis_url, _servers = services(DEFAULT_DATA_DIR / "bench", dict(os.environ))
    admin = await asyncpg.connect(pg)
    await admin.execute("DROP DATABASE IF EXISTS messaging_bench WITH (FORCE)")
    await admin.execute("CREATE DATABASE messaging_bench")
    database_url = with_database(pg, "messaging_bench")
    await migrate(database_url)
    r = Redis.from_url(redis_url)
    await r.flushdb()
    await r.aclose()
    stack = new_stack(
        database_url,
        redis_url,
        Path(tempfile.mkdtemp(prefix="bench-")),
        LOG_LEVEL="WARNING",
        SIM_STATUS_DELAY_MS="50",
        SIM_BATCH_MS="50",
        **dict(a.split("=", 1) for a in args.env),
    )
    stack.start_all()
    try:
        await stack.wait_until_up()
        report = await bench(stack, database_url, args.seconds, args.connections)
    finally:
        stack.stop_all()
        await admin.execute("DROP DATABASE IF EXISTS messaging_bench WITH (FORCE)")
        await admin.close()
    return report, stack.logs


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=10, help="send API phase length")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--out", default="bench-report", help="report path without suffix")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting for every process, e.g. SEND_CONCURRENCY=16",
    )
    args = parser.parse_args()
    report, logs = uvloop.run(_run(args))
    Path(f"{args.out}.json").write_text(json.dumps(report, indent=2))
    Path(f"{args.out}.md").write_text(_markdown(report))
    print(_markdown(report))
    print(f"written {args.out}.md and {args.out}.json; process logs in {logs}")
    raise SystemExit(0 if all(report["checks"].values()) else 1)


if __name__ == "__main__":
    main()
