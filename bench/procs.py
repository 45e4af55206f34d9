"""CPU and RSS per process group, read from /proc (Linux only, like the benchmark).

A group is a process and all its descendants (Sanic's worker processes count towards
`web`), or the processes of one server (`postgres` with its backends, `redis-server`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> tuple[str, int, float, int] | None:
    """(comm, parent pid, CPU seconds, RSS bytes), or None if the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / _CLK_TCK
    return comm, int(fields[1]), cpu, int(fields[21]) * _PAGE


def _all() -> dict[int, tuple[str, int, float, int]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (s := _stat(int(entry))) is not None:
            out[int(entry)] = s
    return out


def _tree(root: int, procs: dict[int, tuple[str, int, float, int]]) -> set[int]:
    members, grew = {root}, True
    while grew:
        children = {pid for pid, s in procs.items() if s[1] in members} - members
        members |= children
        grew = bool(children)
    return members & set(procs)


Group = Callable[[dict[int, tuple[str, int, float, int]]], set[int]]


def tree_of(pid: int) -> Group:
    return lambda procs: _tree(pid, procs)


def serving(comm: str, needle: str) -> Group:
    """Processes of executable `comm` whose command line mentions `needle` (a socket path
    or data directory: other PostgreSQL or Redis servers on the machine are not ours), and
    their descendants (PostgreSQL's backends)."""

    def members(procs: dict[int, tuple[str, int, float, int]]) -> set[int]:
        roots = {pid for pid, s in procs.items() if s[0] == comm and needle in _cmdline(pid)}
        return set().union(*(_tree(pid, procs) for pid in roots)) if needle else set()

    return members


def _pss(pid: int) -> int:
    """Proportional set size: shared pages split between their users, so forked workers
    (and PostgreSQL's backends) are not counted once per process as RSS counts them."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Usage:
    """`start()` then `stop()`: CPU % of one core and RSS (MB) per group over that window."""

    def __init__(self, groups: dict[str, Group]) -> None:
        self.groups = groups
        self._cpu: dict[int, float] = {}
        self._started = 0.0

    def start(self) -> None:
        self._cpu = {pid: s[2] for pid, s in _all().items()}
        self._started = time.perf_counter()

    def stop(self) -> dict[str, dict[str, Any]]:
        procs = _all()
        elapsed = time.perf_counter() - self._started
        out = {}
        for name, group in self.groups.items():
            members = group(procs)
            cpu = sum(procs[p][2] - self._cpu.get(p, 0.0) for p in members)
            out[name] = {
                "processes": len(members),
                "cpu_percent": round(100 * cpu / elapsed, 1) if elapsed else 0.0,
                "rss_mb": round(sum(procs[p][3] for p in members) / 2**20, 1),
                "pss_mb": round(sum(_pss(p) for p in members) / 2**20, 1),
            }
        return out


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_reference_ms() -> float:
    """Milliseconds for a fixed pure-Python workload (best of 5, before any scenario): what
    one core of this machine is worth, so reports from different machines compare."""
    body = {"to": "4915112345678", "type": "text", "text": {"body": "Your order #42 shipped"}}

    def work() -> float:
        started = time.perf_counter()
        n = 0
        for i in range(200_000):
            n += len(orjson.dumps(body)) + i % 7
        return time.perf_counter() - started

    return round(1000 * min(work() for _ in range(5)), 1)
