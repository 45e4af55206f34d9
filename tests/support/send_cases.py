"""Helpers for the send-request tables: build a request by changing a valid one at a path,
parse it, and see what the Meta simulator says about the same body.

Each `tests/server/test_payloads_*.py` holds one type group's table of `Bad` cases; every case
names the exact field paths the API must report and, for the first, the message (which names
the limit). `meta=True` cases are ones Meta itself refuses, so the simulator must refuse the
same body: that keeps the simulator's checks and ours the same shapes.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pytest

from server.api_errors import ValidationError
from server.payloads import parse_send_request
from simulator.meta_checks import check_message

VALID = Path(__file__).parent.parent / "fixtures" / "send" / "valid"
DROP = object()
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class Bad(NamedTuple):
    label: str
    body: dict[str, Any]
    fields: list[str]
    message: str | None = None
    meta: bool = True  # Meta refuses it too (False: a rule of ours, stricter than Meta)


def valid_request(name: str) -> dict[str, Any]:
    """The request of `fixtures/send/valid/<name>.json`."""
    return orjson.loads((VALID / f"{name}.json").read_bytes())["request"]


def changed(body: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `body` with each dotted path (`a.b[0].c`) set, or removed if `DROP`."""
    out = copy.deepcopy(body)
    for path, value in changes.items():
        steps = [name or int(index) for name, index in _STEP.findall(path)]
        target = out
        for step in steps[:-1]:
            target = target[step]
        if value is DROP:
            del target[steps[-1]]
        else:
            target[steps[-1]] = value
    return out


def errors_of(body: dict[str, Any]) -> list[dict[str, str]]:
    with pytest.raises(ValidationError) as info:
        parse_send_request(orjson.dumps(body))
    return info.value.fields


def meta_refuses(body: dict[str, Any]) -> str | None:
    """What the simulator says about the request as Meta would get it (None: accepted)."""
    sent = {k: v for k, v in body.items() if k != "metadata"}
    return check_message({**sent, "messaging_product": "whatsapp"})


def check_bad(case: Bad) -> None:
    """The API names exactly `case.fields`; the simulator refuses it when Meta would."""
    got = errors_of(case.body)
    assert [f["field"] for f in got] == case.fields, got
    if case.message is not None:
        assert got[0]["message"] == case.message, got
    if case.meta:
        assert meta_refuses(case.body), "the simulator accepted what Meta refuses"


def ids(cases: list[Bad]) -> list[str]:
    return [c.label for c in cases]


def accepted(body: dict[str, Any]) -> dict[str, Any]:
    """Parse a valid request: Meta gets exactly its content, and the simulator accepts it."""
    request = parse_send_request(orjson.dumps(body))
    sent = request.meta_payload("m")
    assert sent[request.type] == body[request.type]
    assert sent.get("context") == body.get("context")
    assert check_message(sent) is None, check_message(sent)
    return sent
