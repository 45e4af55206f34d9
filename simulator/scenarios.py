"""Fault injection for the Meta simulator: what to answer per recipient, and which statuses follow.

A scenario is set with `POST /_sim/scenarios` for one recipient or for `*` (every recipient
without one of its own). Its `responses` queue is consumed one item per send call; when it is
empty, sends succeed. Its `statuses` are the webhooks sent after each success, in order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from simulator.meta_checks import error_body
from simulator.recorder import digits

STATUSES = ("sent", "delivered", "read", "failed")
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

    def next_step(self) -> dict[str, Any]:
        """The next queued response (`{}` is a plain success)."""
        return self.responses.popleft() if self.responses else {}


NORMAL = Scenario()


def parse_scenario(body: Any) -> tuple[str, Scenario]:
    """The recipient key (digits or `*`) and scenario of a `/_sim/scenarios` body."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    to = body.get("to")
    key = "*" if to == "*" else digits(to)
    if key is None:
        raise ValueError("'to' must be a phone number or '*'")
    responses = body.get("responses", [])
    if not isinstance(responses, list) or not all(isinstance(r, dict) for r in responses):
        raise ValueError("'responses' must be a list of objects")
    for step in responses:
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
    return key, Scenario(deque(responses), statuses, bool(body.get("duplicate_webhooks")))


def step_error(step: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The HTTP status and Meta error body a failing step answers with."""
    status = step["status"]
    code, title = _STEP_ERRORS.get(status, (100, "Invalid parameter"))
    code = step.get("code", code)
    title = step.get("title", title)
    details = step.get("details", None if status >= 500 else title)
    message = title if code in (1, 2) else f"(#{code}) {title}"
    return status, error_body(code, message, details)
