"""core.names: the stream names, their shards and hash tags, and where legacy entries go."""

from __future__ import annotations

import pytest

from core.names import (
    LAST_ERRORS_KEY,
    dead_letter_stream,
    groups,
    hub_stream_of,
    hub_streams,
    legacy_target,
    outbound_stream,
    shard_of,
    webhook_streams,
)


def _tag(key: str) -> str:
    """The part of a key Redis Cluster hashes: its first non-empty `{...}`."""
    start = key.index("{")
    return key[start + 1 : key.index("}", start)]


STREAMS = [outbound_stream("106540352242922"), *webhook_streams(3), *hub_streams(3)]


@pytest.mark.parametrize("stream", STREAMS)
def test_keys_of_one_transaction_share_the_stream_slot(stream: str) -> None:
    """The runner's dead-letter transaction touches the stream, its `:dead` stream and its
    last-errors hash: one hash tag, one slot."""
    keys = (stream, dead_letter_stream(stream), LAST_ERRORS_KEY.format(stream=stream))
    assert len({_tag(k) for k in keys}) == 1


@pytest.mark.parametrize(
    ("stream", "shard"),
    [
        ("messaging:webhooks:{w0}", 0),
        ("messaging:hub-events:{h12}", 12),
        ("messaging:webhooks:{w0}:dead", None),
        ("messaging:webhooks", None),
        ("messaging:webhooks:{h1}", None),
        ("messaging:outbound:{1065}", None),
    ],
)
def test_shard_of(stream: str, shard: int | None) -> None:
    assert shard_of(stream) == shard


def test_shards_have_distinct_tags_and_one_shard_is_shard_0() -> None:
    assert len({_tag(s) for s in (*webhook_streams(8), *hub_streams(8))}) == 16
    assert webhook_streams() == ("messaging:webhooks:{w0}",)
    assert hub_streams() == ("messaging:hub-events:{h0}",)
    assert [s for s, _ in groups(("1065",), 2)] == [
        "messaging:outbound:{1065}",
        "messaging:webhooks:{w0}",
        "messaging:webhooks:{w1}",
        "messaging:hub-events:{h0}",
        "messaging:hub-events:{h1}",
    ]


def test_a_message_keeps_one_hub_shard_and_messages_spread() -> None:
    ids = [f"message-{i}" for i in range(300)]
    assert all(hub_stream_of(i, 3) == hub_stream_of(i, 3) for i in ids)
    assert {hub_stream_of(i, 3) for i in ids} == set(hub_streams(3))
    assert {hub_stream_of(i) for i in ids} == {hub_streams()[0]}


@pytest.mark.parametrize(
    ("legacy", "target"),
    [
        ("messaging:webhooks", "messaging:webhooks:{w0}"),
        ("messaging:webhooks:dead", "messaging:webhooks:{w0}:dead"),
        ("messaging:hub-events", "messaging:hub-events:{h0}"),
        ("messaging:hub-events:dead", "messaging:hub-events:{h0}:dead"),
    ],
)
def test_legacy_streams_go_to_shard_0(legacy: str, target: str) -> None:
    assert legacy_target(legacy) == target
