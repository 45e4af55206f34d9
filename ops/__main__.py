"""`python -m ops`: answers to the questions an operator asks, from the service's own settings
(DATABASE_URL, REDIS_URL and, if set, WHATSAPP_PHONE_NUMBER_ID; only those a command needs
are read). They come from the
environment, else from `.env`, else from the local run's `.data/dev/env` (written by
`python -m scripts.dev`), so the same commands work on Railway and against the local run.

    python -m ops message <id|wamid>      state, timeline, Hub events and their deliveries
    python -m ops streams                 streams, groups, lag, pending entries, consumers
    python -m ops dead                    dead-letter entries and dead Hub events, with reasons
    python -m ops foreign [--wamid W]     statuses that changed no message of ours
    python -m ops retention [--days N]    rows past RETENTION_DAYS (or N) not yet purged
    python -m ops replay --id evt_... | --since T [--until T] | --all
                                          dead Hub events get a fresh retry schedule
    python -m ops replay --stream outbound:<number> --id <entry> | --since T | --all
                                          dead-letter entries go back on their stream

Human-readable by default; `--json` for scripts. Exit code 1 when a message is not found,
or when `replay --id` names an id that is not a dead event (or dead-letter entry): the ids
that were dead are replayed all the same, and the others are named on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from dotenv import dotenv_values

import db
from core import broker
from core.settings import Settings, SettingsError
from db import held_statuses, hub_events, retention
from ops import message_report, streams
from ops.render import table, to_json, when

Output = tuple[Any, str]  # (what --json prints, what a person reads)
ROOT = Path(__file__).resolve().parent.parent
# Where settings come from when the environment lacks them, in order.
SETTINGS_FILES = (ROOT / ".env", ROOT / ".data" / "dev" / "env")


def environ() -> dict[str, str]:
    """The environment, each unset or empty variable filled from the first file that has it."""
    env = dict(os.environ)
    for path in SETTINGS_FILES:
        if path.is_file():
            for name, value in dotenv_values(path).items():
                if value and not env.get(name):
                    env[name] = value
    return env


def _when(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a timezone, e.g. {value}Z")
    return parsed


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    p = argparse.ArgumentParser(
        prog="python -m ops",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("message", parents=[common], help="one message by id or wamid")
    m.add_argument("key", help="our message id (UUID) or Meta's wamid")
    s = sub.add_parser("streams", parents=[common], help="streams, groups, pending, consumers")
    s.add_argument("--pending", type=int, default=10, help="pending entries shown per group")
    d = sub.add_parser("dead", parents=[common], help="dead-letter entries and dead Hub events")
    d.add_argument("--limit", type=int, default=50, help="newest N of each kind")
    f = sub.add_parser("foreign", parents=[common], help="statuses that changed no message of ours")
    f.add_argument("--wamid", help="only this wamid's")
    f.add_argument("--limit", type=int, default=50, help="newest N")
    t = sub.add_parser("retention", parents=[common], help="rows retention has still to purge")
    t.add_argument("--days", type=int, help="this many days instead of RETENTION_DAYS")
    r = sub.add_parser("replay", parents=[common], help="replay dead Hub events or entries")
    r.add_argument("--stream", help="replay this stream's dead-letter entries instead")
    r.add_argument("--id", action="append", help="an event id, or an entry id (repeatable)")
    r.add_argument("--since", type=_when, help="created (entries: dead-lettered) at or after")
    r.add_argument("--until", type=_when, help="created (entries: dead-lettered) before")
    r.add_argument("--all", action="store_true", help="every dead event (or entry)")
    return p


def main(argv: list[str] | None = None) -> None:
    p = parser()
    args = p.parse_args(argv)
    if args.command == "replay":
        _check_replay(p, args)
    run = {
        "message": _message,
        "streams": _streams,
        "dead": _dead,
        "foreign": _foreign,
        "retention": _retention,
        "replay": _replay,
    }
    try:
        out = asyncio.run(run[args.command](args))
    except SettingsError as exc:
        sys.exit(f"config error: {exc}")
    if out is None:
        sys.exit(
            f"no message with id or wamid {args.key!r}"
            f" (statuses Meta sent for it, if any: python -m ops foreign --wamid {args.key})"
        )
    data, text = out
    if args.json:
        print(to_json(data))
    elif text:
        print(text)
    missing = data.get("not_replayed") if isinstance(data, dict) else None
    if missing:
        sys.exit(f"not replayed (no dead event or entry with that id): {', '.join(missing)}")


def _check_replay(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not (args.id or args.since or args.until or args.all):
        p.error("say which: --id, --since/--until or --all")
    if args.all and (args.id or args.since or args.until):
        p.error("--all cannot be combined with --id, --since or --until")
    if args.stream:
        try:
            args.stream = asyncio.run(_with_redis(lambda redis: _stream_named(redis, args.stream)))
        except ValueError as exc:
            p.error(str(exc))


async def _stream_named(redis: Any, name: str) -> str:
    return streams.stream_named(name, await streams.known_groups(redis, _numbers()))


def _numbers() -> tuple[str, ...]:
    """The business numbers, when the settings name them (ops needs only the URLs)."""
    try:
        return Settings.one("WHATSAPP_PHONE_NUMBER_ID", environ())
    except SettingsError:
        return ()


async def _with_pool(use: Callable[[Any], Awaitable[Any]]) -> Any:
    pool = await db.create_pool(Settings.one("DATABASE_URL", environ()), min_size=1, max_size=2)
    try:
        return await use(pool)
    finally:
        await pool.close()


async def _with_redis(use: Callable[[Any], Awaitable[Any]]) -> Any:
    # ops reads only REDIS_URL: it asks the server whether it is a cluster node.
    redis = await broker.open_client(Settings.one("REDIS_URL", environ()), cluster=None)
    try:
        return await use(redis)
    finally:
        await redis.aclose()


async def _message(args: argparse.Namespace) -> Output | None:
    found = await _with_pool(
        lambda pool: _with_redis(lambda redis: message_report.report(pool, redis, args.key))
    )
    return (found, message_report.render(found)) if found else None


async def _streams(args: argparse.Namespace) -> Output:
    async def read(redis: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return await streams.overview(redis, args.pending, _numbers()), await streams.workers(redis)

    found, alive = await _with_redis(read)
    return {"streams": found, "workers": alive}, streams.render_overview(found, alive)


async def _dead(args: argparse.Namespace) -> Output:
    entries = await _with_redis(lambda redis: streams.dead_entries(redis, args.limit))
    events = await _with_pool(lambda pool: _dead_events(pool, args.limit))
    return {"entries": entries, "hub_events": events}, streams.render_dead(entries, events)


async def _dead_events(pool: asyncpg.Pool, limit: int) -> list[dict[str, Any]]:
    """Dead Hub events, each with its POSTs counted as `ops message` counts them."""
    events = [dict(e) for e in await hub_events.dead_events(pool, limit)]
    return await message_report.with_deliveries(pool, events)


async def _foreign(args: argparse.Namespace) -> Output:
    rows = await _with_pool(lambda pool: held_statuses.foreign(pool, args.limit, wamid=args.wamid))
    found = [dict(r) for r in rows]
    return {"statuses": found}, message_report.render_foreign(found)


async def _retention(args: argparse.Namespace) -> Output:
    days = args.days if args.days is not None else Settings.one("RETENTION_DAYS", environ())
    if not days:
        return {"days": 0}, "retention is off (RETENTION_DAYS=0): everything is kept"
    cutoff = datetime.now(UTC) - timedelta(days=days)
    waiting = await _with_pool(lambda pool: retention.backlog(pool, cutoff))
    rows = [(r.table, r.what, waiting[r.table]) for r in retention.RULES]
    title = f"rows older than {days} days (before {when(cutoff)}) not yet purged"
    text = "\n".join([title, table(("TABLE", "RETENTION", "ROWS"), rows, "  ")])
    return {"days": days, "cutoff": cutoff, "waiting": waiting}, text


async def _replay(args: argparse.Namespace) -> Output:
    if args.stream:
        since, until = (int(t.timestamp() * 1000) if t else None for t in (args.since, args.until))
        moved = await _with_redis(
            lambda redis: streams.replay_entries(redis, args.stream, args.id, since, until)
        )
        lines = [f"{m['dead_id']} -> {m['stream']} {m['new_id']}" for m in moved]
        print(f"replayed {len(moved)} dead-letter entries", file=sys.stderr)
        return _asked(args.id, {"entries": moved}, [m["dead_id"] for m in moved], lines)
    ids = await _with_pool(
        lambda pool: hub_events.replay(
            pool, ids=args.id or None, since=args.since, until=args.until
        )
    )
    print(f"replayed {len(ids)} dead Hub event(s)", file=sys.stderr)
    return _asked(args.id, {"hub_events": ids}, ids, ids)


def _asked(
    asked: list[str] | None, data: dict[str, Any], done: list[str], lines: list[str]
) -> Output:
    """With `--id`, the output also names the ids asked for that were not replayed."""
    if asked:
        data["not_replayed"] = [i for i in dict.fromkeys(asked) if i not in set(done)]
    return data, "\n".join(lines)


if __name__ == "__main__":
    main()
