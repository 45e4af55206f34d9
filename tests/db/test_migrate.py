"""db.migrate on throwaway databases: applies in order, once, under a lock; refuses drift."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from db.migrate import MIGRATIONS_DIR, MigrationError, migrate
from tests.conftest import ROOT, Services, with_database

TABLES = {
    "schema_migrations",
    "messages",
    "message_statuses",
    "inbound_messages",
    "hub_events",
    "hub_event_attempts",
    "webhook_changes",
    "held_statuses",
    "service_windows",
    "contacts",
    "marketing_preferences",
    "templates",
    "template_syncs",
}
ALL = sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql"))  # what a fresh database gets
VERSIONS = [name[:4] for name in ALL]


@pytest.fixture
async def fresh_db(services: Services) -> AsyncIterator[str]:
    """An empty database, dropped after the test."""
    name = f"migrate_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(services.postgres_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield with_database(services.postgres_url, name)
    conn = await asyncpg.connect(services.postgres_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    """A copy of db/migrations the test may edit."""
    return Path(shutil.copytree(MIGRATIONS_DIR, tmp_path / "migrations"))


async def fetch(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def tables(url: str) -> set[str]:
    rows = await fetch(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r["tablename"] for r in rows}


async def applied_versions(url: str) -> list[str]:
    rows = await fetch(url, "SELECT version FROM schema_migrations ORDER BY version")
    return [r["version"] for r in rows]


async def test_fresh_database_gets_initial_migration_and_tables(fresh_db: str) -> None:
    assert ALL[0] == "0001_initial"
    assert await migrate(fresh_db) == ALL
    assert await tables(fresh_db) == TABLES
    assert await applied_versions(fresh_db) == VERSIONS


async def test_second_run_is_a_no_op(fresh_db: str) -> None:
    await migrate(fresh_db)
    assert await migrate(fresh_db) == []
    assert await applied_versions(fresh_db) == VERSIONS


async def test_concurrent_runs_apply_each_file_once(fresh_db: str) -> None:
    results = await asyncio.gather(migrate(fresh_db), migrate(fresh_db))
    assert sorted(results) == [[], ALL]
    assert await applied_versions(fresh_db) == VERSIONS


async def test_later_migration_is_applied_alone(fresh_db: str, migrations_dir: Path) -> None:
    await migrate(fresh_db, directory=migrations_dir)
    (migrations_dir / "9999_add_notes.sql").write_text(
        "ALTER TABLE messages ADD COLUMN notes text;"
    )
    assert await migrate(fresh_db, directory=migrations_dir) == ["9999_add_notes"]
    assert await applied_versions(fresh_db) == [*VERSIONS, "9999"]
    columns = await fetch(
        fresh_db,
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'messages' AND column_name = 'notes'",
    )
    assert len(columns) == 1


def _edit_initial(directory: Path) -> None:
    path = directory / "0001_initial.sql"
    path.write_text(path.read_text() + "\n-- an innocent-looking edit\n")


def _add_misnamed(directory: Path) -> None:
    (directory / "2_more_tables.sql").write_text("SELECT 1;")


def _add_duplicate_version(directory: Path) -> None:
    (directory / "0001_again.sql").write_text("SELECT 1;")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (_edit_initial, "0001_initial.sql was edited after it was applied"),
        (_add_misnamed, "2_more_tables.sql: name must look like"),
        (_add_duplicate_version, "two migrations share a version number"),
    ],
    ids=["edited-applied-file", "misnamed-file", "duplicate-version"],
)
async def test_drift_between_disk_and_database_raises_naming_the_file(
    fresh_db: str, migrations_dir: Path, change: Callable[[Path], None], fragment: str
) -> None:
    await migrate(fresh_db, directory=migrations_dir)
    change(migrations_dir)
    with pytest.raises(MigrationError, match=fragment):
        await migrate(fresh_db, directory=migrations_dir)
    assert await applied_versions(fresh_db) == VERSIONS


def run_migrate(database_url: str | None) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": os.environ["PATH"]}
    if database_url is not None:
        environ["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "db.migrate"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.slow
async def test_command_applies_then_reports_up_to_date(fresh_db: str) -> None:
    first = await asyncio.to_thread(run_migrate, fresh_db)
    second = await asyncio.to_thread(run_migrate, fresh_db)
    applied = f"migrate: applied {', '.join(ALL)}\n"
    assert (first.returncode, first.stdout) == (0, applied), first.stderr
    assert (second.returncode, second.stdout) == (0, "migrate: up to date\n"), second.stderr


@pytest.mark.slow
async def test_command_without_database_url_exits_with_one_line() -> None:
    proc = await asyncio.to_thread(run_migrate, None)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0
    assert len(lines) == 1, proc.stderr
    assert "DATABASE_URL" in lines[0]
    assert "Traceback" not in proc.stderr


async def test_messages_stored_before_several_numbers_get_the_default_one(fresh_db, tmp_path):
    before = tmp_path / "before-0009"
    before.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if path.name < "0009":
            shutil.copy(path, before)
    await migrate(fresh_db, directory=before)
    await fetch(
        fresh_db,
        "INSERT INTO messages (id, request_hash, recipient, type, payload) "
        "VALUES (gen_random_uuid(), '', '4915112345678', 'text', '{}')",
    )
    with pytest.raises(asyncpg.RaiseError, match="WHATSAPP_PHONE_NUMBER_ID"):
        await migrate(fresh_db)  # which number did they go from? It must be told
    assert await applied_versions(fresh_db) == [v for v in VERSIONS if v < "0009"]

    applied = await migrate(fresh_db, settings={"default_phone_number_id": "106540352242922"})
    assert applied == [name for name in ALL if name >= "0009"]
    rows = await fetch(fresh_db, "SELECT phone_number_id FROM messages")
    assert [r["phone_number_id"] for r in rows] == ["106540352242922"]
    # The old web, still serving while the deploy rolls out, stores no number: the same one.
    await fetch(
        fresh_db,
        "INSERT INTO messages (id, request_hash, recipient, type, payload) "
        "VALUES (gen_random_uuid(), '', '4915112345679', 'text', '{}')",
    )
    rows = await fetch(fresh_db, "SELECT DISTINCT phone_number_id FROM messages")
    assert [r["phone_number_id"] for r in rows] == ["106540352242922"]
