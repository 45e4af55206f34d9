"""core.numbers: each business number's token, rate, URLs and Redis keys, and which one a
request names."""

from __future__ import annotations

import pytest

from core.numbers import BusinessNumber, Numbers, UnknownNumber

GRAPH = "https://graph.facebook.com/v26.0"
NUMBERS = Numbers.build(
    ("111", "222"),
    token="shared-token",
    rate_per_s=80,
    graph_url=GRAPH,
    tokens={"222": "own-token"},
    rates_per_s={"111": 1000},
)


def test_each_number_has_its_own_token_and_rate_else_the_shared_ones() -> None:
    assert [(n.id, n.token, n.rate_per_s) for n in NUMBERS] == [
        ("111", "shared-token", 1000),
        ("222", "own-token", 80),
    ]
    assert "token" not in repr(NUMBERS)


def test_urls_header_and_keys_name_the_number() -> None:
    n = NUMBERS["222"]
    assert n.messages_url == f"{GRAPH}/222/messages"
    assert n.url("media") == f"{GRAPH}/222/media"
    assert n.bearer == {"Authorization": "Bearer own-token"}
    # Every key about a number carries it as a Redis Cluster hash tag: one slot per number.
    keys = [n.stream, n.rate_key, n.paused_key, n.pair_limit_key("4915100000001")]
    assert keys == [
        "messaging:outbound:{222}",
        "messaging:rate:{222}",
        "messaging:send-paused:{222}",
        "messaging:pair-limit:{222}:4915100000001",
    ]


@pytest.mark.parametrize(
    ("given", "required", "expected"),
    [
        (None, False, "111"),  # the default: the first
        ("222", False, "222"),
        ("222", True, "222"),
        (None, True, "is required: this service sends from 111, 222"),
        ("333", False, "is not a configured number ('333'); one of 111, 222"),
    ],
)
def test_pick(given: str | None, required: bool, expected: str) -> None:
    if expected.isdigit():
        assert NUMBERS.pick(given, required=required).id == expected
    else:
        with pytest.raises(UnknownNumber, match=expected.replace("(", r"\(").replace(")", r"\)")):
            NUMBERS.pick(given, required=required)


def test_one_number_is_never_required_to_be_named() -> None:
    one = Numbers((BusinessNumber("111", "t", 80, GRAPH),))
    assert one.pick(None, required=True).id == "111"
    assert one.default.id == "111" and one.ids == ("111",) and len(one) == 1
