"""`python -m scripts.dev` as a newcomer starts it, on the test's own ports (so a developer's
local run may go on): its output read as it comes, its banner's values noted.

Embedded Redis, as on a fresh machine; PostgreSQL is a fresh database on the suite's server
(an embedded one would only add an initdb). The run writes `.data/dev/env`; a developer's
own copy of that file is put back afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.stack import free_port
from tests.conftest import ROOT, Services, _create_database, _drop_database

RUN_FILE = ROOT / ".data" / "dev" / "env"


@dataclass
class DevRun:
    proc: subprocess.Popen[str]
    banner: dict[str, str]  # {label: value} of the banner's lines
    env: dict[str, str]  # what the test gave the run (its ports)
    output: list[str]

    def pids(self, name: str) -> list[int]:
        """The pids the supervisor started `name` with, oldest first."""
        started = re.compile(rf"\| {name} started \(pid=(\d+)\)")
        return [int(m.group(1)) for line in self.output if (m := started.search(line))]


@contextlib.contextmanager
def _kept(path: Path) -> Iterator[None]:
    """A developer's own local-run file survives the test."""
    saved = path.read_bytes() if path.exists() else None
    try:
        yield
    finally:
        if saved is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(saved)


@contextlib.asynccontextmanager
async def dev_run(services: Services) -> AsyncIterator[DevRun]:
    """A local run, up and its banner printed; stopped (SIGTERM to its group) afterwards."""
    name = f"messaging_dev_{os.getpid()}"
    database_url = await _create_database(services.postgres_url, name)
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url,
        "PORT": str(free_port()),
        "SIM_PORT": str(free_port()),
        "HUB_SINK_PORT": str(free_port()),
        "DEV_REDIS_PORT": str(free_port()),
        "WORKER_METRICS_PORT": str(free_port()),
        # Free-form sends need the contact's window open: the banner's order must allow it.
        "SERVICE_WINDOW_CHECK": "true",
    }
    with _kept(RUN_FILE):
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, read in a thread
            [sys.executable, "-m", "scripts.dev"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        output: list[str] = []
        banner: dict[str, str] = {}
        ready = threading.Event()
        reader = threading.Thread(target=_read, args=(proc, output, banner, ready), daemon=True)
        reader.start()
        try:
            assert await asyncio.to_thread(ready.wait, 90), "".join(output)
            assert "url" in banner, "the dev run ended before its banner:\n" + "".join(output)
            yield DevRun(proc, banner, env, output)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            reader.join(5)
            assert proc.stdout is not None
            proc.stdout.close()
            await _drop_database(services.postgres_url, name)


def _read(
    proc: subprocess.Popen[str], output: list[str], banner: dict[str, str], ready: threading.Event
) -> None:
    """Keep reading the run's output (a full pipe would stall it); note the banner's values
    and set `ready` once it is complete, or once the run has ended."""
    assert proc.stdout is not None
    for line in proc.stdout:
        output.append(line)
        text = line.strip()
        for label in ("DATABASE_URL", "REDIS_URL"):
            if text.startswith(label + "="):
                banner[label] = text.split("=", 1)[1]
        for label in ("API key", "health token", "redis-cli", "worker metrics"):
            if text.startswith(label + ": "):
                banner[label] = text.split(": ", 1)[1]
        if text.startswith("messaging service is up at "):
            banner["url"] = text.rsplit(" ", 1)[1]
        if "operator CLI:" in text:
            ready.set()
    ready.set()
