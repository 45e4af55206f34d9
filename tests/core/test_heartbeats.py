"""core.heartbeats: what a worker's heartbeat says, and reading the live ones from real Redis."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from core.heartbeats import Role, beat, live_per_role, live_workers, parse_beat, role_of, worker_key
from core.names import dead_letter_stream, hub_streams, outbound_stream, webhook_streams


@pytest.mark.parametrize(
    ("stream", "role"),
    [
        (outbound_stream("106540352242922"), Role("sender", "106540352242922")),
        (webhook_streams(3)[0], Role("webhooks")),
        (webhook_streams(3)[2], Role("webhooks")),
        (hub_streams(3)[1], Role("hub")),
        (dead_letter_stream(hub_streams()[0]), None),
        ("messaging:webhooks", None),  # the unsharded name of before: no worker reads it
    ],
)
def test_the_role_of_each_stream(stream: str, role: Role | None) -> None:
    assert role_of(stream) == role


@pytest.mark.parametrize(
    ("raw", "roles"),
    [
        ('{"roles": ["hub", "sender:1065"]}', (Role("hub"), Role("sender", "1065"))),
        ("1", ()),  # an older worker's heartbeat
        ('{"roles": "hub"}', ()),
        ("not json", ()),
        (None, ()),
    ],
    ids=["roles", "older", "not a list", "not json", "none"],
)
def test_parse_beat(raw: str | None, roles: tuple[Role, ...]) -> None:
    assert parse_beat(raw) == roles


def test_beat_round_trip_and_names() -> None:
    roles = [Role("sender", "1065"), Role("webhooks"), Role("hub"), Role("hub")]
    assert beat(roles) == '{"roles": ["hub", "sender:1065", "webhooks"]}'
    assert set(parse_beat(beat(roles))) == set(roles)
    assert [r.title for r in parse_beat(beat(roles))] == [
        "Hub forwarder",
        "sender for 1065",
        "webhook processor",
    ]


async def test_live_workers_reads_every_heartbeat_and_nothing_else(redis: Redis) -> None:
    await redis.set(worker_key("a"), beat([Role("sender", "1065"), Role("hub")]), px=10_000)
    await redis.set(worker_key("b"), beat([Role("sender", "1065")]), px=10_000)
    await redis.set("messaging:workers", "x")  # not a heartbeat
    workers = await live_workers(redis)
    assert sorted(workers) == ["a", "b"]
    assert live_per_role(workers) == {Role("sender", "1065"): 2, Role("hub"): 1}
