"""The benchmark's own arithmetic: which seconds count, what "not growing" means, and that
every scenario is registered with its flags. (Targets live in the benchmark, not here.)"""

from __future__ import annotations

import asyncio
import subprocess
import sys

from bench.__main__ import SCENARIOS
from bench.load import Target
from bench.load import run as run_load
from bench.paced import paced
from bench.sampler import slope
from bench.shared import full_seconds, rate_summary
from bench.wire_rate import busiest, read


def test_full_seconds_drop_the_partial_first_and_last_and_count_gaps_as_zero():
    per_second = {"100": 300, "101": 1000, "103": 990, "104": 1000, "105": 12}
    assert full_seconds(per_second) == [1000, 0, 990, 1000]


def test_full_seconds_within_a_window():
    per_second = {str(s): 500 for s in range(100, 120)}
    assert full_seconds(per_second, since=105, until=110) == [500] * 4


def test_rate_summary_reports_median_min_max():
    assert rate_summary([1000, 990, 1000, 960]) == {
        "median": 995.0,
        "min": 960,
        "max": 1000,
        "seconds": 4,
    }
    assert rate_summary([])["median"] == 0.0


def test_slope_tells_a_growing_backlog_from_a_noisy_flat_one():
    assert slope([10, 300, 20, 280, 15, 290, 12]) < 10
    assert slope([0, 100, 200, 300, 400]) == 100
    assert slope([5, 5, 5]) == 0.0


def test_wire_counts_sliding_seconds_that_wall_clock_seconds_miss():
    # 3 requests late in second 100 and 3 early in 101: each wall-clock second holds 3,
    # the sliding second across the boundary holds 6.
    lines = [f"{t} 127.0.0.1.8080:" for t in (100.7, 100.8, 100.9, 101.0, 101.1, 101.2)]
    times = read([*lines, "102.0 127.0.0.1.9090:", "garbage"])
    assert set(times) == {"8080", "9090"}
    assert busiest(times["8080"], 1.0, limit=5) == (6, 1)
    assert busiest(times["8080"], 0.15) == (2, 0)


def test_every_scenario_is_registered_and_its_flags_parse():
    assert {"send", "webhooks", "drain", "scale", "loop", "soak", "idle"} <= set(SCENARIOS)
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag in ("--drain-messages", "--loop-rate", "--soak-seconds", "--idle-seconds"):
        assert flag in out


async def _http_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def test_the_paced_and_the_closed_loop_generators_count_every_answer():
    server = await asyncio.start_server(_http_ok, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    target = Target(f"http://127.0.0.1:{port}/send/", {"Api-Key": "k"}, b'{"a": 1}')
    async with server:
        steady = await paced(target, rate=400, seconds=0.25, connections=4)
        flat_out = await run_load("asyncio", target, connections=2, seconds=0.2)
    assert steady.requests == steady.ok == 100  # exactly rate x seconds, whatever the timing
    assert steady.non_2xx == steady.connection_errors == 0
    assert flat_out.requests == flat_out.ok > 0 and flat_out.connection_errors == 0
