"""Load generators for the benchmark: wrk (Debian's `wrk` package) or an asyncio fallback.

wrk is the default when it is installed: it is C, so on a 2-core machine it leaves more CPU
to the service than a Python generator would (the asyncio one below costs about as much CPU
as the web process it drives). Both send the same request over N keep-alive connections
and report the same fields.
"""

from __future__ import annotations

import asyncio
import json
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_WRK_SCRIPT = """
wrk.method = "POST"
local f = io.open([==[{body_path}]==], "rb")
wrk.body = f:read("*a")
f:close()
{headers}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {{\\"requests\\": %d, \\"duration_us\\": %d, \\"connect\\": %d, \\"read\\": %d, "
    .. "\\"write\\": %d, \\"status\\": %d, \\"timeout\\": %d, \\"p50\\": %d, \\"p95\\": %d, "
    .. "\\"p99\\": %d, \\"max\\": %d, \\"mean\\": %.1f}}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
"""


@dataclass
class LoadResult:
    """One load run: what was answered, how fast, and what failed."""

    generator: str
    seconds: float
    requests: int
    ok: int  # 2xx answers
    non_2xx: int
    connection_errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def requests_per_s(self) -> float:
        return round(self.requests / self.seconds, 1) if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "requests_per_s": self.requests_per_s}


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


@dataclass(frozen=True)
class Target:
    """The request every connection repeats."""

    url: str
    headers: dict[str, str]
    body: bytes


async def run(
    generator: str, target: Target, connections: int, seconds: float, threads: int = 1
) -> LoadResult:
    """Drive `target`; `extra["cpu_percent"]` is the generator's own CPU (% of one core)."""
    who = resource.RUSAGE_CHILDREN if generator == "wrk" else resource.RUSAGE_SELF
    before = _cpu_s(who)
    if generator == "wrk":
        result = await _wrk(target, connections, seconds, threads)
    else:
        result = await _asyncio_load(target, connections, seconds)
    result.extra["cpu_percent"] = round(100 * (_cpu_s(who) - before) / result.seconds, 1)
    return result


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


async def _wrk(target: Target, connections: int, seconds: float, threads: int) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        body_path = Path(tmp) / "body"
        body_path.write_bytes(target.body)
        headers = "\n".join(f'wrk.headers["{k}"] = [==[{v}]==]' for k, v in target.headers.items())
        script = Path(tmp) / "post.lua"
        script.write_text(_WRK_SCRIPT.format(body_path=body_path, headers=headers))
        proc = await asyncio.create_subprocess_exec(
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            target.url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    line = next((x for x in text.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed:\n{text}")
    r = json.loads(line.removeprefix("WRK_JSON "))
    return LoadResult(
        generator="wrk",
        seconds=r["duration_us"] / 1e6,
        requests=r["requests"],
        ok=r["requests"] - r["status"],
        non_2xx=r["status"],
        connection_errors=r["connect"] + r["read"] + r["write"] + r["timeout"],
        p50_ms=r["p50"] / 1000,
        p95_ms=r["p95"] / 1000,
        p99_ms=r["p99"] / 1000,
        max_ms=r["max"] / 1000,
        extra={"mean_ms": round(r["mean"] / 1000, 2)},
    )


class Tally:
    """What a Python generator's connections saw: latencies, status codes, errors."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.codes: dict[int, int] = {}
        self.errors = 0

    def result(self, generator: str, elapsed: float, **extra: Any) -> LoadResult:
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else 0.0

        ok = sum(n for code, n in self.codes.items() if 200 <= code < 300)
        return LoadResult(
            generator=generator,
            seconds=elapsed,
            requests=len(lat),
            ok=ok,
            non_2xx=len(lat) - ok,
            connection_errors=self.errors,
            p50_ms=pct(0.50),
            p95_ms=pct(0.95),
            p99_ms=pct(0.99),
            max_ms=pct(1.0),
            extra={
                "mean_ms": round(statistics.fmean(lat) * 1000, 2) if lat else 0.0,
                "status_codes": self.codes,
                **extra,
            },
        )


def raw_request(target: Target) -> tuple[str, int, bytes]:
    """(host, port, the request's bytes) for a raw keep-alive connection."""
    host_port = target.url.split("//", 1)[1].split("/", 1)
    host, port = host_port[0].rsplit(":", 1)
    head = f"POST /{host_port[1]} HTTP/1.1\r\nHost: {host_port[0]}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in target.headers.items()
    )
    return (
        host,
        int(port),
        f"{head}Content-Length: {len(target.body)}\r\n\r\n".encode() + target.body,
    )


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """Send one request on the connection and read its answer; the status code."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return int(head[9:12])


async def _asyncio_load(target: Target, connections: int, seconds: float) -> LoadResult:
    """Raw HTTP/1.1 keep-alive connections on the running (uv)loop, each sending its next
    request as soon as the last is answered."""
    host, port, request = raw_request(target)
    tally = Tally()
    started = time.perf_counter()
    until = started + seconds

    def now_if_in_time() -> float | None:
        now = time.perf_counter()
        return now if now < until else None

    await asyncio.gather(
        *(connection(host, port, request, now_if_in_time, tally) for _ in range(connections))
    )
    return tally.result("asyncio", time.perf_counter() - started)


async def connection(
    host: str, port: int, request: bytes, next_due: Callable[[], float | None], tally: Tally
) -> None:
    """One keep-alive connection sending `request` at each time `next_due()` gives (None:
    done); latency is counted from that time."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        tally.errors += 1
        return
    try:
        while (due := next_due()) is not None:
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            code = await exchange(reader, writer, request)
            tally.latencies.append(time.perf_counter() - due)
            tally.codes[code] = tally.codes.get(code, 0) + 1
    except (OSError, asyncio.IncompleteReadError):
        tally.errors += 1
    finally:
        writer.close()
