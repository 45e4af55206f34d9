"""The template catalog on real PostgreSQL: a sync replaces a WABA's whole catalog at once,
an older sync finishing late changes nothing, and the catalog is listed and looked up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

from db import templates
from db.templates import CatalogTemplate

WABA, OTHER = "102290129340398", "999000111222333"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def template(name: str, language: str = "en_US", status: str = "APPROVED") -> CatalogTemplate:
    definition = {"name": name, "language": language, "status": status, "components": []}
    return CatalogTemplate(name, language, status, "UTILITY", definition)


def keys(found: list[CatalogTemplate]) -> list[tuple[str, str, str]]:
    return [(t.name, t.language, t.status) for t in found]


async def test_a_sync_replaces_the_whole_catalog_of_its_waba(pool: asyncpg.Pool):
    assert await templates.last_sync(pool, WABA) is None  # never synced
    await templates.replace_catalog(pool, WABA, [template("a"), template("b")], T0)
    await templates.replace_catalog(pool, OTHER, [template("z")], T0)
    later = T0 + timedelta(minutes=10)
    replaced = await templates.replace_catalog(
        pool, WABA, [template("b", status="PAUSED"), template("c", "de")], later
    )
    assert replaced
    assert keys(await templates.catalog(pool, WABA)) == [
        ("b", "en_US", "PAUSED"),
        ("c", "de", "APPROVED"),
    ]
    assert keys(await templates.catalog(pool, OTHER)) == [("z", "en_US", "APPROVED")]
    sync = await templates.last_sync(pool, WABA)
    assert sync is not None and (sync.synced_at, sync.templates) == (later, 2)


async def test_an_older_sync_finishing_late_changes_nothing(pool: asyncpg.Pool):
    await templates.replace_catalog(pool, WABA, [template("new")], T0)
    late = await templates.replace_catalog(pool, WABA, [template("old")], T0 - timedelta(seconds=1))
    assert not late
    assert keys(await templates.catalog(pool, WABA)) == [("new", "en_US", "APPROVED")]


async def test_concurrent_syncs_leave_one_whole_catalog(pool: asyncpg.Pool):
    catalogs = [[template(f"t{i}_{j}") for j in range(20)] for i in range(4)]
    await asyncio.gather(
        *(
            templates.replace_catalog(pool, WABA, c, T0 + timedelta(seconds=i))
            for i, c in enumerate(catalogs)
        )
    )
    names = {t.name for t in await templates.catalog(pool, WABA)}
    assert names == {t.name for t in catalogs[-1]}  # the latest start wins, never a mix


async def test_a_template_listed_twice_is_kept_once(pool: asyncpg.Pool):
    first, again = template("dup"), template("dup", status="REJECTED")
    await templates.replace_catalog(pool, WABA, [first, again, template("dup", "de")], T0)
    assert keys(await templates.catalog(pool, WABA)) == [
        ("dup", "de", "APPROVED"),
        ("dup", "en_US", "APPROVED"),
    ]


async def test_look_up_by_name_and_filter_by_status(pool: asyncpg.Pool):
    listed = [template("a"), template("a", "de", "PAUSED"), template("b", status="PAUSED")]
    await templates.replace_catalog(pool, WABA, listed, T0)
    assert keys(await templates.catalog(pool, WABA, name="a")) == [
        ("a", "de", "PAUSED"),
        ("a", "en_US", "APPROVED"),
    ]
    assert keys(await templates.catalog(pool, WABA, status="PAUSED")) == [
        ("a", "de", "PAUSED"),
        ("b", "en_US", "PAUSED"),
    ]
    assert await templates.catalog(pool, WABA, name="unknown") == []
    [found] = await templates.catalog(pool, WABA, name="b")
    assert found.definition == listed[2].definition  # Meta's object, as it was listed
