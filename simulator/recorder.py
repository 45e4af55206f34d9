"""The simulator's memory of send calls and its counters, bounded and O(1) per call."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import orjson

from whatsapp.recipients import is_user_id

MAX_CALLS = 100_000
# Callback data seen on accepted sends, to count double sends; oldest forgotten first.
MAX_CALLBACKS = 1_000_000
PER_SECOND_WINDOW_S = 600


def digits(number: Any) -> str | None:
    """A phone number as Meta's wa_id: digits only, without the leading +."""
    if not isinstance(number, str):
        return None
    number = number.strip().lstrip("+")
    return number if number.isdigit() else None


def recipient_key(value: Any) -> str | None:
    """Whom a send names, as the simulator files it: a phone number's digits, or a
    business-scoped user id as given."""
    if isinstance(value, str) and is_user_id(value):
        return value
    return digits(value)


class Recorder:
    """Send calls in arrival order (the last `MAX_CALLS`) and the counters of `/_sim/stats`."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every call and counter."""
        # (to, raw body, wamid, status code, at, business number, endpoint); raw bytes cost
        # far less than parsed JSON.
        self._calls: deque[tuple[str | None, bytes, str | None, int | None, float, str, str]] = (
            deque(maxlen=MAX_CALLS)
        )
        self._callbacks: dict[str, None] = {}
        self._per_second: dict[int, int] = {}
        self._by_number: dict[str, dict[int, int]] = {}  # accepted per second, per number
        self._max_by_number: dict[str, int] = {}
        self.requests = self.accepted = self.rejected = self.duplicates = 0
        self.max_per_second = 0

    def record(
        self,
        to: str | None,
        raw: bytes,
        wamid: str | None,
        status_code: int | None,
        callback_data: Any = None,
        number: str = "",
        endpoint: str = "messages",
    ) -> None:
        """Count one send call from business `number` to `endpoint` (`messages`,
        `marketing_messages`); `status_code` None means the connection was dropped."""
        at = time.time()
        self.requests += 1
        self._calls.append((to, raw, wamid, status_code, at, number, endpoint))
        if status_code != 200:
            self.rejected += 1
            return
        self.accepted += 1
        self._count_second(int(at))
        seconds = self._by_number.setdefault(number, {})
        seconds[int(at)] = count = seconds.get(int(at), 0) + 1
        self._max_by_number[number] = max(self._max_by_number.get(number, 0), count)
        if isinstance(callback_data, str):
            if callback_data in self._callbacks:
                self.duplicates += 1
            else:
                self._callbacks[callback_data] = None
                if len(self._callbacks) > MAX_CALLBACKS:
                    del self._callbacks[next(iter(self._callbacks))]

    def calls(self, to: str | None, limit: int) -> list[dict[str, Any]]:
        """The last `limit` calls (of one recipient, if given), oldest first."""
        picked = []
        for call in reversed(self._calls):
            if len(picked) >= limit:
                break
            if to is None or call[0] == to:
                picked.append(call)
        return [
            {
                "to": c[0],
                "body": _body(c[1]),
                "wamid": c[2],
                "status_code": c[3],
                "at": c[4],
                "phone_number_id": c[5],
                "endpoint": c[6],
            }
            for c in reversed(picked)
        ]

    def stats(self) -> dict[str, Any]:
        """The counters, with accepted sends per unix second over the last 10 minutes."""
        self._prune(int(time.time()))
        return {
            "requests": self.requests,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "per_second": {str(s): n for s, n in self._per_second.items()},
            "max_per_second": self.max_per_second,
            "max_per_second_by_number": dict(self._max_by_number),
            "per_second_by_number": {
                number: {str(s): n for s, n in seconds.items()}
                for number, seconds in self._by_number.items()
            },
        }

    def _count_second(self, second: int) -> None:
        count = self._per_second.get(second)
        if count is None:
            self._prune(second)
            count = 0
        self._per_second[second] = count = count + 1
        if count > self.max_per_second:
            self.max_per_second = count

    def _prune(self, now: int) -> None:
        # Seconds arrive in order, so the oldest keys are first.
        cutoff = now - PER_SECOND_WINDOW_S
        for per_second in (self._per_second, *self._by_number.values()):
            while per_second:
                oldest = next(iter(per_second))
                if oldest > cutoff:
                    break
                del per_second[oldest]


def _body(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode(errors="replace")
