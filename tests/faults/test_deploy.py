"""A deploy mid-burst (issue 4, point 7): web and worker get SIGTERM, as Railway sends it, and
new ones start while the old ones drain. Both stop within their bound; a graceful stop
finishes what it holds, so unlike a SIGKILL nothing is left `sending` and nothing fails."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time

import pytest

from tests.e2e.test_loop import eventually
from tests.faults.counts import assert_promise, settled_counts
from tests.faults.harness import FAULT_ENV, FaultStack, Sent, burst_with_fault

pytestmark = pytest.mark.timeout(120)
_MARGIN_S = 4.0  # process exit and interpreter teardown on a loaded machine
_DRAIN_S = 30  # Railway's draining seconds (README): SIGKILL after that


async def test_deploy_mid_burst(make_stack):
    fs = await make_stack()
    # Meta answering in 100 ms keeps sends in flight when the worker is told to stop.
    await fs.scenario(to="*", windows=[{"until_s": 3600, "response": {"delay_ms": 100}}])
    bound_s = float(FAULT_ENV["SHUTDOWN_TIMEOUT_S"]) + _MARGIN_S

    async def drained(name: str, proc: subprocess.Popen) -> dict[str, float | int]:
        started = time.monotonic()
        try:
            code = await asyncio.to_thread(proc.wait, _DRAIN_S)
        except subprocess.TimeoutExpired:
            proc.kill()  # as Railway does after its draining seconds
            code = await asyncio.to_thread(proc.wait)
        return {f"{name}_exit": code, f"{name}_stop_s": round(time.monotonic() - started, 2)}

    async def deploy(sent: Sent) -> dict[str, float | int]:
        """SIGTERM both; the new ones start once the old web stopped listening."""
        old = {name: fs.stack.procs.pop(name) for name in ("worker", "web")}
        for proc in old.values():
            proc.send_signal(signal.SIGTERM)
        await eventually(lambda: _refused(fs), 10)
        fs.stack.start("web", "-m", "server")
        fs.stack.start("worker2", "-m", "consumers")
        worker, web = await asyncio.gather(*(drained(n, p) for n, p in old.items()))
        return {**worker, **web}

    sent, stopped = await burst_with_fault(fs, deploy, after_meta_accepted=150)
    await eventually(lambda: _web_up(fs), 20)
    c = await settled_counts(fs, "deploy mid-burst (SIGTERM web + worker)", sent, **stopped)
    assert stopped["worker_exit"] == 0 and stopped["web_exit"] == 0, stopped
    assert stopped["worker_stop_s"] < bound_s and stopped["web_stop_s"] < bound_s, stopped
    assert "worker stopped cleanly=True" in fs.stack.log("worker")
    # Once by POST too: an event is leased before its POST, so an entry both reclaimed and
    # republished by the sweeper is delivered by whichever batch leases it first.
    assert_promise(c)
    assert c.terminal == {"read": c.accepted}


async def _refused(fs: FaultStack) -> bool:
    """The old web closed its listening socket (it drains open connections)."""
    port = int(fs.stack.env["PORT"])
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def _web_up(fs: FaultStack) -> bool:
    try:
        return (await fs.http.get(f"{fs.stack.api}/ping/")).status_code == 200
    except Exception:
        return False
