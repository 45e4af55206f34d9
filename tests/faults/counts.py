"""What a fault check counts after the dust settles, and the promise it asserts.

The promise (issue 4): every accepted message terminal, none sent to Meta twice (the
simulator counts), every expected Hub event received exactly once by id, nothing in
dead-letter that should not be. Expectations come from outside the service where they can:
a message Meta accepted must reach every status Meta sent for it; a message Meta never
accepted can only have failed.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from core.names import dead_letter_stream, groups
from tests.faults.harness import FaultStack, Sent
from tests.support.settings import HUB_STREAM, NUMBER, OUTBOUND, WEBHOOKS_STREAM

STREAMS = (OUTBOUND, WEBHOOKS_STREAM, HUB_STREAM)
GROUP_OF = dict(groups((NUMBER,)))
TERMINAL = ("sent", "delivered", "read", "failed")
META_STATUSES = ("sent", "delivered", "read")  # what the simulator reports after a success
REPORTS: list[str] = []  # every check's counts, for the closing note of the test run


@dataclass
class Counts:
    label: str
    accepted: int
    http: dict[str, int]
    unexpected_answers: list[str]
    gave_up: int
    not_stored: list[str]  # 202-accepted ids with no row
    statuses: dict[str, str | None]  # accepted id -> final status
    terminal: dict[str, int]  # final status -> messages
    failed_by_code: dict[str, int]
    meta: dict[str, Any]  # simulator counters
    meta_accepted: dict[str, int]  # message id -> accepted send calls
    hub: dict[str, Any]  # sink counters
    expected_events: set[tuple[str, str]]  # (message id, status)
    received_events: dict[tuple[str, str], set[str]]  # (message id, status) -> event ids
    received_other: dict[str, int]  # event type -> count, for events not about our messages
    dead_letters: dict[str, int]
    unacked: dict[str, int]  # entries read but never acknowledged, per stream
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def missing_events(self) -> set[tuple[str, str]]:
        return self.expected_events - set(self.received_events)

    @property
    def unexpected_events(self) -> set[tuple[str, str]]:
        return set(self.received_events) - self.expected_events

    @property
    def ids_per_status_over_one(self) -> int:
        return sum(1 for ids in self.received_events.values() if len(ids) > 1)

    def render(self) -> str:
        terminal = " ".join(f"{k}={v}" for k, v in sorted(self.terminal.items()))
        failed = " ".join(f"{k}={v}" for k, v in sorted(self.failed_by_code.items()))
        http = " ".join(f"{k}={v}" for k, v in sorted(self.http.items()))
        dead = " ".join(f"{k}={v}" for k, v in self.dead_letters.items())
        extra = " ".join(f"{k}={v}" for k, v in self.extra.items())
        m, h = self.meta, self.hub
        lines = [
            f"[{self.label}] accepted={self.accepted} answers: {http}"
            f" unexpected={len(self.unexpected_answers)} gave_up={self.gave_up}"
            f" not_stored={len(self.not_stored)}",
            f"  terminal: {terminal}" + (f" | failed by code: {failed}" if failed else ""),
            f"  meta: calls={m['requests']} accepted={m['accepted']} rejected={m['rejected']}"
            f" duplicates={m['duplicates']} webhook_failures={m['webhook_failures']}",
            f"  hub events: expected={len(self.expected_events)}"
            f" received={len(self.received_events)} missing={len(self.missing_events)}"
            f" unexpected={len(self.unexpected_events)}"
            f" ids_per_status>1={self.ids_per_status_over_one}"
            f" duplicate_deliveries={h['duplicates']} rejected={h['rejected']}"
            f" failed_on_purpose={h['failed_on_purpose']} other={dict(self.received_other)}",
            f"  dead letters: {dead} | unacked entries: {self.unacked}",
        ]
        if extra:
            lines.append(f"  {extra}")
        return "\n".join(lines)


async def settle(
    fs: FaultStack, ids: list[str], timeout_s: float, in_doubt_ok: bool = False
) -> str | None:
    """Wait until nothing moves: no message queued or sending, no statuses owed by the
    simulator, no outbox event pending, every stream drained. None when settled, else
    what was still moving. With `in_doubt_ok`, a message `sending` whose call was marked as
    leaving (db.claims) counts as settled: if its call reached Meta, the statuses Meta owes
    keep this waiting; if not, it waits for SEND_OUTCOME_TIMEOUT_S by design."""
    deadline = time.monotonic() + timeout_s
    quiet = 0
    state = "not checked"
    uuids = [UUID(i) for i in ids]
    while time.monotonic() < deadline:
        try:
            open_ = await fs.sql(
                "SELECT count(*) AS n FROM messages WHERE id = ANY($1::uuid[])"
                " AND (status = 'queued'"
                "      OR status = 'sending' AND NOT ($2::boolean AND left_at IS NOT NULL))",
                uuids,
                in_doubt_ok,
            )
            pending = await fs.sql("SELECT count(*) AS n FROM hub_events WHERE status = 'pending'")
            owed = (await fs.sim_stats())["statuses_pending"]
            backlog = [await fs.redis("XLEN", s) for s in STREAMS]
        except Exception as exc:  # a dependency still restarting: keep waiting
            state = f"probe failed: {type(exc).__name__}"
            quiet = 0
        else:
            state = (
                f"open messages={open_[0]['n']} pending hub events={pending[0]['n']}"
                f" statuses owed by Meta={owed} stream backlogs={backlog}"
            )
            still = open_[0]["n"] or pending[0]["n"] or owed or any(backlog)
            quiet = 0 if still else quiet + 1
            if quiet >= 3:
                return None
        await asyncio.sleep(0.2)
    return state


async def unacked_entries(fs: FaultStack, stream: str) -> int:
    """XPENDING of the stream's consumer group: read by some consumer, never acknowledged."""
    summary = await fs.redis("XPENDING", stream, GROUP_OF[stream])
    return summary["pending"] if summary else 0


async def settled_counts(fs: FaultStack, label: str, sent: Sent, **extra: Any) -> Counts:
    """Settle, then count; a check that never settles fails with what was still moving."""
    left = await settle(fs, sent.accepted, timeout_s=60)
    counts = await collect(fs, label, sent, **extra)
    assert left is None, f"never settled: {left}"
    return counts


async def collect(fs: FaultStack, label: str, sent: Sent, **extra: Any) -> Counts:
    """Count everything the promise is about; printed and kept for the closing note."""
    ids = sent.accepted
    rows = await fs.sql(
        "SELECT id::text AS id, status, error->>'code' AS code FROM messages"
        " WHERE id = ANY($1::uuid[])",
        [UUID(i) for i in ids],
    )
    status_of = {r["id"]: r["status"] for r in rows}
    reached = await fs.sql(
        "SELECT message_id::text AS id, status FROM message_statuses"
        " WHERE message_id = ANY($1::uuid[])",
        [UUID(i) for i in ids],
    )
    meta_accepted: Counter[str] = Counter()
    for call in await fs.sim_calls():
        body = call["body"] if isinstance(call["body"], dict) else {}
        if call["status_code"] == 200 and body.get("biz_opaque_callback_data"):
            meta_accepted[body["biz_opaque_callback_data"]] += 1

    expected = {(r["id"], r["status"]) for r in reached if r["status"] in TERMINAL}
    received: dict[tuple[str, str], set[str]] = defaultdict(set)
    other: Counter[str] = Counter()
    mine = set(ids)
    for e in await fs.sink_events():
        data = e["event"].get("data") or {}
        if e["event"].get("type") == "message.status" and data.get("message_id") in mine:
            received[(data["message_id"], data["status"])].add(e["webhook_id"])
        else:
            other[e["event"].get("type", "?")] += 1
    dead = {s.split(":")[-1]: await fs.redis("XLEN", dead_letter_stream(s)) for s in STREAMS}
    unacked = {s.split(":")[-1]: await unacked_entries(fs, s) for s in STREAMS}
    dead_rows = await fs.sql("SELECT count(*) AS n FROM hub_events WHERE status = 'dead'")
    dead["hub_events.dead"] = dead_rows[0]["n"]
    counts = Counts(
        label=label,
        accepted=len(ids),
        http=dict(sent.codes),
        unexpected_answers=sent.unexpected,
        gave_up=sent.gave_up,
        not_stored=[i for i in ids if i not in status_of],
        statuses={i: status_of.get(i) for i in ids},
        terminal=dict(Counter(status_of.values())),
        failed_by_code=dict(Counter(r["code"] for r in rows if r["status"] == "failed")),
        meta=await fs.sim_stats(),
        meta_accepted=dict(meta_accepted),
        hub=await fs.sink_stats(),
        expected_events=expected,
        received_events=dict(received),
        received_other=dict(other),
        dead_letters=dead,
        unacked=unacked,
        extra={"seconds": round(time.monotonic() - fs.ready_at, 1), **extra},
    )
    report = counts.render()
    REPORTS.append(report)
    print(report)
    return counts


def assert_promise(
    c: Counts,
    *,
    failed_ok: tuple[str, ...] = (),
    redelivery_ok: bool = False,
    meta_statuses: tuple[str, ...] = META_STATUSES,
    in_doubt: frozenset[str] = frozenset(),
) -> None:
    """The promise of issue 4, as it states it. `failed_ok`: error codes a message may
    legitimately end with in this check; `redelivery_ok`: the same event id may reach the
    Hub twice (a crash between the Hub's 2xx and recording it), still once by id;
    `in_doubt`: messages still `sending` because a killed worker's call may have left
    (settled by a status, else `outcome_unknown` after SEND_OUTCOME_TIMEOUT_S)."""
    statuses = c.statuses
    assert not c.unexpected_answers, f"answers other than 202/503: {c.unexpected_answers[:5]}"
    assert c.gave_up == 0, f"{c.gave_up} messages never got a 202"
    assert not c.not_stored, f"202 for messages that were not stored: {c.not_stored[:5]}"
    open_ = {i: s for i, s in statuses.items() if s not in TERMINAL and i not in in_doubt}
    assert not open_, f"{len(open_)} messages not terminal, e.g. {list(open_.items())[:5]}"

    assert c.meta["duplicates"] == 0, f"Meta accepted {c.meta['duplicates']} messages twice"
    twice = [i for i, n in c.meta_accepted.items() if n > 1]
    assert not twice, f"sent to Meta twice: {twice[:5]}"
    strangers = set(c.meta_accepted) - set(statuses)
    assert not strangers, f"Meta got messages nobody accepted: {list(strangers)[:5]}"
    phantom = [
        i
        for i, s in statuses.items()
        if s != "failed" and i not in c.meta_accepted and i not in in_doubt
    ]
    assert not phantom, f"{len(phantom)} messages {statuses[phantom[0]]} but Meta never had them"
    bad_failures = {k: v for k, v in c.failed_by_code.items() if k not in failed_ok}
    assert not bad_failures, f"failed messages: {bad_failures}"

    owed = {(i, s) for i in c.meta_accepted for s in meta_statuses}
    unreported = owed - c.expected_events
    assert not unreported, f"{len(unreported)} statuses Meta sent were lost: {list(unreported)[:5]}"
    failed_events = {(i, "failed") for i, s in statuses.items() if s == "failed"}
    assert failed_events <= c.expected_events, "a failed message has no failed status recorded"
    assert not c.missing_events, (
        f"{len(c.missing_events)} Hub events never arrived, e.g. {list(c.missing_events)[:5]}"
    )
    assert not c.unexpected_events, f"Hub events for nothing: {list(c.unexpected_events)[:5]}"
    assert c.ids_per_status_over_one == 0, "one (message, status) reached the Hub under two ids"
    assert c.hub["rejected"] == 0, "the Hub rejected events (bad signatures)"
    if not redelivery_ok:
        assert c.hub["duplicates"] == 0, f"events delivered twice: {c.hub['duplicate_ids'][:5]}"
    dead = {k: v for k, v in c.dead_letters.items() if v}
    assert not dead, f"dead letters: {dead}"
    unacked = {k: v for k, v in c.unacked.items() if v}
    assert not unacked, f"entries never acknowledged (nobody reclaimed them): {unacked}"
