"""The service as real processes (web, worker, Meta simulator, Hub sink) on free ports.

Used by the end-to-end tests and the benchmark so both start the stack the same way.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    api: str
    sim: str
    sink: str
    env: dict[str, str]
    logs: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def api_key(self) -> str:
        return self.env["MESSAGING_SERVICE_API_KEY"].split(",")[0]

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Api-Key": self.api_key, "Content-Type": "application/json", **extra}

    def start(self, name: str, *args: str, **env: str) -> None:
        with open(self.logs / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                env={**self.env, **env},
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own group: stop() can reach every child
            )

    def start_all(self) -> None:
        self.start("sim", "-m", "simulator.meta")
        self.start("sink", "-m", "simulator.hub")
        self.start("web", "-m", "server")
        self.start("worker", "-m", "consumers")

    async def wait_until_up(self) -> None:
        await wait_until_up(f"{self.sim}/_sim/stats")
        await wait_until_up(f"{self.sink}/_sink/stats")
        await wait_until_up(f"{self.api}/ping/")

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """Signal the process, wait, then kill whatever is left of its group: a Sanic main
        killed outright (or stuck) would leave its manager and workers running."""
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return code

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


def new_stack(database_url: str, redis_url: str, logs: Path, **overrides: str) -> Stack:
    env = {**stack_env(database_url, redis_url), **overrides}
    return Stack(
        api=f"http://127.0.0.1:{env['PORT']}",
        sim=f"http://127.0.0.1:{env['SIM_PORT']}",
        sink=f"http://127.0.0.1:{env['HUB_SINK_PORT']}",
        env=env,
        logs=logs,
    )


def stack_env(database_url: str, redis_url: str) -> dict[str, str]:
    """Every setting the processes need, with retries and timeouts shortened for tests."""
    ports = {k: free_port() for k in ("web", "sim", "sink", "worker_metrics")}
    return {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "MESSAGING_SERVICE_API_KEY": f"test-key-{secrets.token_hex(8)},old-key-rotating-out,"
        f"billing:billing-key-{secrets.token_hex(8)}",
        "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
        "WHATSAPP_ACCESS_TOKEN": f"EAAtest{secrets.token_hex(16)}",
        "WHATSAPP_VERIFY_TOKEN": f"verify-{secrets.token_hex(8)}",
        "WHATSAPP_APP_SECRET": secrets.token_hex(16),
        "HUB_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "HEALTH_CHECK_TOKENS": "health-token-1,health-token-2",
        "PORT": str(ports["web"]),
        "WORKER_METRICS_PORT": str(ports["worker_metrics"]),
        "WHATSAPP_API_BASE_URL": f"http://127.0.0.1:{ports['sim']}",
        "HUB_WEBHOOK_URL": f"http://127.0.0.1:{ports['sink']}/events",
        "SIM_PORT": str(ports["sim"]),
        "SIM_WEBHOOK_URL": f"http://127.0.0.1:{ports['web']}/webhooks/whatsapp/",
        "SIM_STATUS_DELAY_MS": "10",
        "SIM_BATCH_MS": "10",
        "HUB_SINK_PORT": str(ports["sink"]),
        "HUB_SINK_PRINT": "0",
        "LOG_LEVEL": "INFO",
        "RETRY_INITIAL_S": "0.01",
        "RETRY_MAX_S": "0.05",
        "STREAM_BLOCK_MS": "100",
        "STREAM_IDLE_TIMEOUT_S": "2",
        "SWEEP_INTERVAL_S": "0.5",
        "SWEEP_STALE_S": "3",
        "SEND_OUTCOME_TIMEOUT_S": "4",
        "SEND_RATE_PER_S": "1000",
        "SEND_PAUSE_S": "1",
        "PAIR_RATE_LIMIT_S": "0.3",
        "HUB_RETRY_SCHEDULE_S": "0.05,0.1,0.2,0.3",
        "HUB_GONE_PAUSE_S": "1",
        "RETRY_POLL_S": "0.05",
    }


async def wait_until_up(url: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(url)).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not come up in {timeout_s}s")
            await asyncio.sleep(0.1)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def with_redis_db(url: str, number: int) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":  # urlunsplit would drop the empty host: unix:/path
        query = urlencode({**dict(parse_qsl(parts.query)), "db": str(number)})
        return f"unix://{parts.path}?{query}"
    return urlunsplit(parts._replace(path=f"/{number}"))


def redis_db_of(url: str) -> int:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return int(dict(parse_qsl(parts.query)).get("db", 0))
    return int(parts.path.strip("/") or 0)
