"""The local run's supervisor: a command that exits is restarted after a back-off that
doubles, and `stop()` ends every command, a running one by SIGTERM."""

from __future__ import annotations

import io
import re
import threading
import time

import pytest

from harness.supervisor import Supervisor
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _run_for(supervisor: Supervisor, seconds: float) -> None:
    runner = threading.Thread(target=supervisor.run)
    runner.start()
    time.sleep(seconds)
    supervisor.stop()
    runner.join(10)
    assert not runner.is_alive()


def test_an_exited_command_restarts_with_a_doubling_back_off():
    out = io.StringIO()
    supervisor = Supervisor(out)
    supervisor.add("crasher", "echo up; exit 3", env={"PATH": "/usr/bin:/bin"}, cwd=ROOT)
    _run_for(supervisor, 4.5)  # starts at about 0, 1 and 3 s; the next at 7
    assert len(re.findall(r"crasher +\| up$", out.getvalue(), re.M)) == 3
    waits = re.findall(r"crasher exited \(rc=3\); restarting in (\S+)s", out.getvalue())
    assert waits[:2] == ["1", "2"], out.getvalue()
    assert len(re.findall(r"crasher started \(pid=\d+\)", out.getvalue())) == 3


def test_stop_ends_a_running_command_with_sigterm():
    out = io.StringIO()
    supervisor = Supervisor(out, stop_timeout_s=5)
    supervisor.add("sleeper", "exec sleep 60", env={"PATH": "/usr/bin:/bin"}, cwd=ROOT)
    started = time.monotonic()
    _run_for(supervisor, 0.5)
    assert time.monotonic() - started < 5
    assert "sending SIGTERM to sleeper" in out.getvalue()
    assert "sleeper stopped (rc=-15)" in out.getvalue(), out.getvalue()


class _ClosedAfter(io.StringIO):
    """An output whose reader goes away after `lines` lines (`python -m scripts.dev | head`)."""

    def __init__(self, lines: int) -> None:
        super().__init__()
        self.left = lines

    def write(self, text: str) -> int:
        if self.left <= 0:
            raise BrokenPipeError(32, "Broken pipe")
        self.left -= text.count("\n")
        return super().write(text)


def test_when_nobody_reads_the_output_every_command_is_stopped():
    supervisor = Supervisor(_ClosedAfter(1), stop_timeout_s=5)
    talks = "while :; do echo hi; sleep 0.1; done"
    supervisor.add("talker", talks, env={"PATH": "/usr/bin:/bin"}, cwd=ROOT)
    runner = threading.Thread(target=supervisor.run)
    runner.start()
    runner.join(10)
    assert not runner.is_alive(), "the supervisor kept running with nobody reading"
    [child] = supervisor._children
    assert child.proc is not None and child.proc.poll() is not None  # stopped, not orphaned
