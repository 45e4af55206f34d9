"""Apply `db/migrations/NNNN_name.sql` in order: `python -m db.migrate`.

Runs under a PostgreSQL advisory lock so two replicas deploying at once apply each file once.
Every applied file is recorded with its sha256; re-running is a no-op, and a file edited
after it was applied is refused (write a new migration instead). A migration that needs a
setting reads it as `messaging.<name>` (see `migrate`'s `settings`).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from pypika import Order, PostgreSQLQuery, Table

from db import Params

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_ID = 7_214_003_519  # any constant shared by every replica
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_applied = Table("schema_migrations")


class MigrationError(Exception):
    """The migrations on disk and in the database disagree."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file, in version order; a misnamed .sql file is an error."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: name must look like 0001_what_it_does.sql")
        found.append(Migration(match[1], match[2], path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version number: {versions}")
    return found


async def migrate(
    dsn: str, directory: Path = MIGRATIONS_DIR, settings: dict[str, str] | None = None
) -> list[str]:
    """Apply pending migrations; return the names applied (empty when up to date).

    `settings` are set on the session as `messaging.<name>`, for the migrations that fill a
    new column from the configuration (0009: `default_phone_number_id`)."""
    migrations = discover(directory)
    conn = await asyncpg.connect(dsn)
    try:
        for name, value in (settings or {}).items():
            await conn.execute("SELECT set_config($1, $2, false)", f"messaging.{name}", value)
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
        try:
            return await _apply(conn, migrations)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    finally:
        await conn.close()


async def _apply(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    query = PostgreSQLQuery.from_(_applied).select(_applied.version, _applied.checksum)
    rows = await conn.fetch(str(query.orderby(_applied.version, order=Order.asc)))
    done = {r["version"]: r["checksum"] for r in rows}
    applied = []
    for m in migrations:
        if m.version in done:
            if done[m.version] != m.checksum:
                raise MigrationError(
                    f"{m.version}_{m.name}.sql was edited after it was applied; "
                    "restore it and add a new migration instead"
                )
            continue
        p = Params()
        insert = PostgreSQLQuery.into(_applied).columns("version", "name", "checksum")
        insert = insert.insert(p(m.version), p(m.name), p(m.checksum))
        async with conn.transaction():
            await conn.execute(m.sql)
            await conn.execute(str(insert), *p.args)
        applied.append(f"{m.version}_{m.name}")
    return applied


def main() -> None:
    from core.settings import Settings, SettingsError

    try:
        dsn = Settings.one("DATABASE_URL")
    except SettingsError as exc:
        sys.exit(f"config error: {exc}")
    try:
        numbers = Settings.one("WHATSAPP_PHONE_NUMBER_ID")
    except SettingsError:  # needed only to upgrade stored messages; 0009 says so if it is
        numbers = ()
    settings = {"default_phone_number_id": numbers[0]} if numbers else {}
    try:
        applied = asyncio.run(migrate(dsn, settings=settings))
    except MigrationError as exc:
        sys.exit(f"migrate: {exc}")
    except (OSError, asyncpg.PostgresError) as exc:
        sys.exit(f"migrate: cannot apply migrations: {type(exc).__name__}: {exc}")
    print(f"migrate: applied {', '.join(applied)}" if applied else "migrate: up to date")


if __name__ == "__main__":
    main()
