"""Count captured requests per destination in any sliding second: what left the worker, not
what a receiver counted after its own event loop got to each one (docs/performance.md).

    tcpdump -r /tmp/sends.pcap -nn -tt | awk '{print $1, $5}' > /tmp/sends.txt
    python -m bench.wire_rate /tmp/sends.txt --limit 1000
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from typing import Any

from bench.shared import full_seconds, rate_summary


def read(lines: Any) -> dict[str, list[float]]:
    """`<unix time> <dst ip.port>:` lines -> sorted times per destination port."""
    times: dict[str, list[float]] = defaultdict(list)
    for line in lines:
        parts = line.split()
        if len(parts) >= 2:
            times[parts[1].rstrip(":").rsplit(".", 1)[-1]].append(float(parts[0]))
    return {port: sorted(ts) for port, ts in times.items()}


def busiest(times: list[float], span: float, limit: int | None = None) -> tuple[int, int]:
    """The most of the sorted `times` within any `span` seconds, and how many of the
    windows ending at a request held more than `limit`."""
    most = over = start = 0
    for end, t in enumerate(times):
        while t - times[start] >= span:
            start += 1
        most = max(most, end - start + 1)
        over += limit is not None and end - start + 1 > limit
    return most, over


def summary(times: list[float], limit: int) -> dict[str, Any]:
    per_second = Counter(int(t) for t in times)
    # Counted as the bench counts the simulator's seconds (partial first and last left out).
    rate = rate_summary(full_seconds({str(s): n for s, n in per_second.items()}))
    sliding, over = busiest(times, 1.0, limit)
    return {
        "requests": len(times),
        "busiest_sliding_second": sliding,
        "windows_over_limit": over,
        "busiest_wall_clock_second": max(per_second.values(), default=0),
        "median_per_second": rate["median"],
        "most_in_10_ms": busiest(times, 0.01)[0],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", help="tcpdump -tt text: time, then destination")
    parser.add_argument("--limit", type=int, default=1000, help="requests allowed per second")
    parser.add_argument("--min-requests", type=int, default=1000, help="skip smaller ports")
    args = parser.parse_args(argv)
    with open(args.capture) as f:
        ports = read(f)
    for port, times in sorted(ports.items(), key=lambda p: -len(p[1])):
        if len(times) >= args.min_requests:
            print(
                f"port {port}: "
                + ", ".join(f"{k} {v:,}" for k, v in summary(times, args.limit).items())
            )
    if not ports:
        sys.exit("no requests in the capture")


if __name__ == "__main__":
    main()
