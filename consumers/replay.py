"""`python -m consumers.replay`: give dead Hub events a fresh retry schedule.

    python -m consumers.replay --id evt_abc --id evt_def
    python -m consumers.replay --since 2026-11-24T00:00:00Z --until 2026-11-25T00:00:00Z
    python -m consumers.replay --all

Replayed events become pending and due at once; a running worker's scheduler publishes them
within RETRY_POLL_S and they are delivered with the same event ids (the Hub de-duplicates).
Only DATABASE_URL is read.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime

import db
from db import hub_events
from server.settings import Settings, SettingsError


def _when(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a timezone, e.g. {value}Z")
    return parsed


async def replay(database_url: str, args: argparse.Namespace) -> list[str]:
    pool = await db.create_pool(database_url, max_size=1)
    try:
        return await hub_events.replay(
            pool, ids=args.id or None, since=args.since, until=args.until
        )
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m consumers.replay",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--id", action="append", help="a dead event id (repeatable)")
    parser.add_argument("--since", type=_when, help="dead events created at or after this time")
    parser.add_argument("--until", type=_when, help="dead events created before this time")
    parser.add_argument("--all", action="store_true", help="every dead event")
    args = parser.parse_args(argv)
    if not (args.id or args.since or args.until or args.all):
        parser.error("say which events: --id, --since/--until or --all")
    if args.all and (args.id or args.since or args.until):
        parser.error("--all cannot be combined with --id, --since or --until")
    try:
        database_url = Settings.one("DATABASE_URL")
    except SettingsError as exc:
        sys.exit(f"config error: {exc}")
    ids = asyncio.run(replay(database_url, args))
    for event_id in ids:
        print(event_id)
    print(f"replayed {len(ids)} dead Hub event(s)", file=sys.stderr)


if __name__ == "__main__":
    main()
