"""Run named commands side by side, print their output with a prefix, and restart any that
exits, as a platform restarts a crashed service.

A command runs through `/bin/sh -c` in its own process group (as honcho runs a Procfile's
lines), so a signal reaches the whole of it. A command that exits is started again after a
back-off that doubles from 1 s up to 30 s, and resets once it has run for 30 s; each exit and
restart is printed. SIGINT or SIGTERM stops them all: SIGTERM to each group, SIGKILL to what
is left after `stop_timeout_s`; so does an error in the supervisor itself, or its output
closing (`python -m scripts.dev | head`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
HEALTHY_AFTER_S = 30.0  # a run this long resets the back-off


@dataclass
class _Child:
    name: str
    command: str
    env: dict[str, str]
    cwd: Path
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff_s: float = FIRST_BACKOFF_S
    restart_at: float | None = None
    readers: list[threading.Thread] = field(default_factory=list)


class Supervisor:
    """Named commands kept running until `stop()` (or SIGINT/SIGTERM during `run()`)."""

    def __init__(self, output: TextIO = sys.stdout, stop_timeout_s: float = 25.0) -> None:
        self._output = output
        self._stop_timeout_s = stop_timeout_s
        self._children: list[_Child] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def add(self, name: str, command: str, env: dict[str, str], cwd: Path) -> None:
        """Register `command` under `name`; it starts with `run()`."""
        self._children.append(_Child(name, command, env, cwd))

    def stop(self) -> None:
        """Make `run()` stop every command and return."""
        self._stopping.set()

    def run(self) -> None:
        """Start every command, restart those that exit, until stopped; then stop them all."""
        if threading.current_thread() is threading.main_thread():  # else: `stop()` only
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda signum, _: self._signalled(signum))
        try:
            for child in self._children:
                self._start(child)
            while not self._stopping.wait(0.2):
                for child in self._children:
                    self._tend(child)
        finally:  # whatever ended the loop, no command outlives it
            self._stop_all()

    def _signalled(self, signum: int) -> None:
        self._say(f"{signal.Signals(signum).name} received, stopping")
        self.stop()

    def _tend(self, child: _Child) -> None:
        now = time.monotonic()
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.restart_at = None
                self._start(child)
            return
        assert child.proc is not None
        code = child.proc.poll()
        if code is None:
            return
        self._signal(child, signal.SIGKILL)  # whatever of the group outlived its shell
        if now - child.started_at >= HEALTHY_AFTER_S:
            child.backoff_s = FIRST_BACKOFF_S
        self._say(f"{child.name} exited (rc={code}); restarting in {child.backoff_s:g}s")
        child.restart_at = now + child.backoff_s
        child.backoff_s = min(child.backoff_s * 2, MAX_BACKOFF_S)

    def _start(self, child: _Child) -> None:
        child.proc = subprocess.Popen(
            ["/bin/sh", "-c", child.command],
            cwd=child.cwd,
            env=child.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        child.started_at = time.monotonic()
        reader = threading.Thread(target=self._relay, args=(child.name, child.proc), daemon=True)
        reader.start()
        child.readers = [reader]
        self._say(f"{child.name} started (pid={child.proc.pid})")

    def _relay(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for raw in proc.stdout:
                self._print(name, raw.decode("utf-8", "replace").rstrip("\n"))

    def _stop_all(self) -> None:
        running = [c for c in self._children if c.proc and c.proc.poll() is None]
        for child in running:
            self._say(f"sending SIGTERM to {child.name} (pid {child.proc.pid})")  # type: ignore[union-attr]
            self._signal(child, signal.SIGTERM)
        deadline = time.monotonic() + self._stop_timeout_s
        for child in running:
            assert child.proc is not None
            try:
                child.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._say(f"sending SIGKILL to {child.name} (pid {child.proc.pid})")
                self._signal(child, signal.SIGKILL)
                child.proc.wait()
            self._say(f"{child.name} stopped (rc={child.proc.returncode})")
        for child in self._children:
            for reader in child.readers:
                reader.join(2)

    @staticmethod
    def _signal(child: _Child, sig: signal.Signals) -> None:
        assert child.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.proc.pid, sig)

    def _say(self, text: str) -> None:
        self._print("system", text)

    def _print(self, name: str, text: str) -> None:
        width = max(len(c.name) for c in self._children) if self._children else 6
        line = f"{time.strftime('%H:%M:%S')} {name.ljust(max(width, 6))} | {text}"
        with self._lock:
            try:
                print(line, file=self._output, flush=True)
            except (BrokenPipeError, ValueError):  # nobody reads the output any more: stop
                self._stopping.set()
