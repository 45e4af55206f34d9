"""Fault injection for the Meta simulator: what to answer per recipient, and which statuses
follow.

A scenario is set with `POST /_sim/scenarios` for one recipient (a number or a BSUID) or for
`*` (every recipient without one of its own). Its `responses` queue is consumed one item per
send call; when it is empty, sends succeed. Its `statuses` are the webhooks sent after each
success, in order. Its `windows` answer every send inside a time span (seconds after the
scenario was set) with one response, e.g. 5xx for two seconds or bursts of 130429, as real
outages come.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from simulator.meta_checks import error_body
from simulator.meta_webhooks import is_user_id
from simulator.recorder import digits

STATUSES = ("sent", "delivered", "read", "played", "failed")
DEFAULT_STATUSES = ("sent", "delivered", "read")
# Meta's error code and title for an HTTP status, when a step gives only the status.
_STEP_ERRORS = {
    500: (2, "Service temporarily unavailable"),
    503: (2, "Service temporarily unavailable"),
    429: (130429, "Rate limit hit"),
    401: (190, "Invalid OAuth access token - Cannot parse access token"),
}


@dataclass
class Scenario:
    responses: deque[dict[str, Any]] = field(default_factory=deque)
    statuses: list[dict[str, Any]] = field(
        default_factory=lambda: [{"status": s} for s in DEFAULT_STATUSES]
    )
    duplicate_webhooks: bool = False
    # (from_s, until_s, response), relative to `set_at` (monotonic seconds).
    windows: list[tuple[float, float, dict[str, Any]]] = field(default_factory=list)
    set_at: float = field(default_factory=time.monotonic)

    def next_step(self) -> dict[str, Any]:
        """The next queued response, else the current window's (`{}` is a plain success)."""
        if self.responses:
            return self.responses.popleft()
        elapsed = time.monotonic() - self.set_at
        for start, end, response in self.windows:
            if start <= elapsed < end:
                return response
        return {}


NORMAL = Scenario()


def parse_scenario(body: Any) -> tuple[str, Scenario]:
    """The recipient key (digits or `*`) and scenario of a `/_sim/scenarios` body."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    to = body.get("to")
    key = to if to == "*" or (isinstance(to, str) and is_user_id(to)) else digits(to)
    if key is None:
        raise ValueError("'to' must be a phone number, a BSUID or '*'")
    responses = body.get("responses", [])
    if not isinstance(responses, list) or not all(isinstance(r, dict) for r in responses):
        raise ValueError("'responses' must be a list of objects")
    windows = body.get("windows", [])
    if not isinstance(windows, list) or not all(isinstance(w, dict) for w in windows):
        raise ValueError("'windows' must be a list of {from_s, until_s, response} objects")
    spans = [(w.get("from_s", 0), w.get("until_s"), w.get("response")) for w in windows]
    for start, end, response in spans:
        if not isinstance(start, int | float) or not isinstance(end, int | float):
            raise ValueError("a window's 'from_s' and 'until_s' must be numbers")
        if not isinstance(response, dict):
            raise ValueError("a window's 'response' must be an object")
    for step in [*responses, *(r for _, _, r in spans)]:
        if not isinstance(step.get("status", 200), int):
            raise ValueError("a response's 'status' must be an integer")
        if not isinstance(step.get("delay_ms", 0), int | float):
            raise ValueError("a response's 'delay_ms' must be a number")
    statuses = []
    for item in body.get("statuses", DEFAULT_STATUSES):
        spec = {"status": item} if isinstance(item, str) else item
        if not isinstance(spec, dict) or spec.get("status") not in STATUSES:
            raise ValueError(f"each status must be one of {STATUSES} (or an object with one)")
        statuses.append(spec)
    duplicate = bool(body.get("duplicate_webhooks"))
    return key, Scenario(deque(responses), statuses, duplicate, spans)


def step_error(step: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The HTTP status and Meta error body a failing step answers with."""
    status = step["status"]
    code, title = _STEP_ERRORS.get(status, (100, "Invalid parameter"))
    code = step.get("code", code)
    title = step.get("title", title)
    details = step.get("details", None if status >= 500 else title)
    message = title if code in (1, 2) else f"(#{code}) {title}"
    return status, error_body(code, message, details)
