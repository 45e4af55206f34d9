"""Never a 500, and one set of Meta's rules: every leaf of every valid fixture, replaced by each
of a set of bad values, either still parses or is a 400 naming that field (or the object
holding it). The Meta simulator, built from the same rules (`whatsapp.*_rules`), agrees: it
accepts what the service would send for every body that parses, and refuses every body the
service refuses for a rule of Meta's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from server.api_errors import ValidationError
from server.payloads import parse_send_request
from simulator.meta_checks import check_message
from tests.support.send_cases import changed, meta_refuses

VALID = sorted((Path(__file__).parent.parent / "fixtures" / "send" / "valid").glob("*.json"))
BAD_VALUES = [None, 1, 1.5, True, "", " ", "x" * 5000, [], {}, [1], {"a": 1}, "\x00", -1e308]
# Rules of the service's own: the envelope and `to` (E.164), the Hub's metadata, what
# PostgreSQL can store (no NUL), and null read as "not given".
_OURS_KEYS = {"to", "messaging_product", "recipient_type", "metadata"}


def _leaves(value: Any, path: str = "") -> Iterator[str]:
    if path:
        yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")


def _ours(leaf: str, bad: Any) -> bool:
    return leaf.split(".")[0].split("[")[0] in _OURS_KEYS or bad is None or bad == "\x00"


@pytest.mark.slow  # over 5,000 bodies through the parser and the simulator's checks
def test_any_bad_value_is_a_400_about_its_field_and_the_simulator_agrees() -> None:
    mutations = 0
    for path in VALID:
        request = orjson.loads(path.read_bytes())["request"]
        for leaf in _leaves(request):
            for bad in BAD_VALUES:
                body = changed(request, {leaf: bad})
                mutations += 1
                where = (path.stem, leaf, bad)
                refused = meta_refuses(body)  # must not raise
                try:
                    parsed = parse_send_request(orjson.dumps(body))
                except ValidationError as exc:
                    fields = [f["field"] for f in exc.fields]
                    related = [f for f in fields if leaf.startswith(f) or f.startswith(leaf)]
                    assert related, (*where, exc.fields)
                    assert refused or _ours(leaf, bad), (*where, exc.fields, "simulator accepts")
                else:
                    problem = check_message(parsed.meta_payload("m"))
                    assert problem is None, (*where, problem)
    assert mutations > 5000  # every fixture, every leaf
