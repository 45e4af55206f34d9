"""consumers.hub_policy.decide as one table: each answer of the Hub (or the error that stood
for none) x the event's attempt x its `Retry-After` -> the verdict the forwarder records, the
way dramatiq tests its Retries middleware. The settings are the defaults: HUB_RETRY_SCHEDULE_S
has 9 delays, so attempt 9 is the last one parked and attempt 10 is dead. Pure: no network,
PostgreSQL or Redis (tests/consumers/test_hub_forwarder.py drives the same over sockets).
"""

from __future__ import annotations

from typing import NamedTuple

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from consumers.hub_policy import Dead, Delivered, Retry, Verdict, decide
from core.settings import Settings
from tests.support.settings import VALID

S = Settings.from_env(VALID)
DELAYS = S.hub_retry_schedule_s  # 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h
LAST = len(DELAYS)  # the last attempt that is parked for another
GONE_PAUSE = S.hub_gone_pause_s
DAY = 86400.0
HTTP_DATE = "Wed, 21 Oct 2026 07:28:00 GMT"

_HUB = ConnectionKey("hub.example.com", 443, True, True, None, None, None, None)
REFUSED = aiohttp.ClientConnectorError(_HUB, ConnectionRefusedError(111, "Connection refused"))
DROPPED = aiohttp.ServerDisconnectedError()
TIMED_OUT = TimeoutError()  # HTTP_TIMEOUT_S passed (aiohttp's total timeout)
READ_TIMEOUT = aiohttp.SocketTimeoutError()
CONNECT_TIMEOUT = aiohttp.ConnectionTimeoutError()
REFUSED_NAME = "ClientConnectorError"


def rejected(status: int, pause_s: float | None = None) -> Dead:
    return Dead(f"HTTP {status}: rejected by the Hub, not retried", pause_s)


def exhausted(attempt: int) -> Dead:
    return Dead(f"retries exhausted after {attempt} attempts")


class Case(NamedTuple):
    label: str
    answer: int | Exception  # the Hub's status, or why there was none
    attempt: int  # this one included
    retry_after: str | None
    verdict: Verdict


CASES = [
    # 2xx: delivered, on any attempt, whatever else the Hub says
    Case("200: delivered", 200, 1, None, Delivered()),
    Case("204: delivered", 204, 1, None, Delivered()),
    Case("202 on the last attempt: delivered", 202, LAST, None, Delivered()),
    Case("200 past the schedule: delivered", 200, LAST + 1, None, Delivered()),
    Case("200 with Retry-After: delivered", 200, 1, "60", Delivered()),
    # 3xx: never followed (fix HUB_WEBHOOK_URL, then replay): dead at once
    Case("301: dead", 301, 1, None, rejected(301)),
    Case("302: dead", 302, 1, None, rejected(302)),
    Case("307: dead", 307, 1, None, rejected(307)),
    Case("308: dead", 308, 1, None, rejected(308)),
    # 4xx but 408/409/410/429: dead at once, with the reason
    Case("400: dead", 400, 1, None, rejected(400)),
    Case("401: dead", 401, 1, None, rejected(401)),
    Case("403: dead", 403, 1, None, rejected(403)),
    Case("404: dead", 404, 1, None, rejected(404)),
    Case("413: dead", 413, 1, None, rejected(413)),
    Case("422: dead", 422, 1, None, rejected(422)),
    Case("404 with Retry-After: dead", 404, 1, "30", rejected(404)),
    Case("404 on the last attempt: dead, rejected", 404, LAST, None, rejected(404)),
    Case("404 past the schedule: dead, rejected", 404, LAST + 1, None, rejected(404)),
    # 410 Gone: dead, and every delivery pauses for HUB_GONE_PAUSE_S
    Case("410: dead, deliveries paused", 410, 1, None, rejected(410, GONE_PAUSE)),
    Case("410 with Retry-After: the pause is ours", 410, 1, "60", rejected(410, GONE_PAUSE)),
    Case("410 past the schedule: paused too", 410, LAST + 1, None, rejected(410, GONE_PAUSE)),
    # 408, 409, 429: the schedule, or Retry-After (seconds, 0 to a day)
    Case("408: first delay", 408, 1, None, Retry(5.0, "HTTP 408")),
    Case("409: first delay", 409, 1, None, Retry(5.0, "HTTP 409")),
    Case("429: first delay", 429, 1, None, Retry(5.0, "HTTP 429")),
    Case("429, attempt 2: second delay", 429, 2, None, Retry(300.0, "HTTP 429")),
    Case("429 with Retry-After 42", 429, 1, "42", Retry(42.0, "HTTP 429")),
    Case("429 with Retry-After 0: at once", 429, 1, "0", Retry(0.0, "HTTP 429")),
    Case("429 with Retry-After 1.5", 429, 1, "1.5", Retry(1.5, "HTTP 429")),
    Case("429 with Retry-After -5: at once", 429, 1, "-5", Retry(0.0, "HTTP 429")),
    Case("429 with Retry-After a week: a day", 429, 1, "604800", Retry(DAY, "HTTP 429")),
    Case("429 with Retry-After past the day", 429, LAST, "90000", Retry(DAY, "HTTP 429")),
    Case("429, Retry-After a date: schedule", 429, 1, HTTP_DATE, Retry(5.0, "HTTP 429")),
    Case("429, Retry-After unreadable: schedule", 429, 1, "soon", Retry(5.0, "HTTP 429")),
    Case("408 with Retry-After 30", 408, 1, "30", Retry(30.0, "HTTP 408")),
    Case("429 on the last attempt: last delay", 429, LAST, None, Retry(DAY, "HTTP 429")),
    Case("429 past the schedule: dead", 429, LAST + 1, "5", exhausted(LAST + 1)),
    # 5xx: the schedule, or Retry-After
    Case("500: first delay", 500, 1, None, Retry(5.0, "HTTP 500")),
    Case("502: first delay", 502, 1, None, Retry(5.0, "HTTP 502")),
    Case("503: first delay", 503, 1, None, Retry(5.0, "HTTP 503")),
    Case("504: first delay", 504, 1, None, Retry(5.0, "HTTP 504")),
    Case("503 with Retry-After 120", 503, 1, "120", Retry(120.0, "HTTP 503")),
    Case("500, attempt 2: second delay", 500, 2, None, Retry(300.0, "HTTP 500")),
    Case("500, attempt 5: fifth delay", 500, 5, None, Retry(18000.0, "HTTP 500")),
    Case("500 on the last attempt: last delay", 500, LAST, None, Retry(DAY, "HTTP 500")),
    Case("500 past the schedule: dead", 500, LAST + 1, None, exhausted(LAST + 1)),
    Case("503 well past the schedule: dead", 503, LAST + 3, None, exhausted(LAST + 3)),
    # no answer: the schedule; the recorded error is the exception's name
    Case("total timeout: first delay", TIMED_OUT, 1, None, Retry(5.0, "TimeoutError")),
    Case("read timeout: first delay", READ_TIMEOUT, 1, None, Retry(5.0, "SocketTimeoutError")),
    Case("connect timeout", CONNECT_TIMEOUT, 1, None, Retry(5.0, "ConnectionTimeoutError")),
    Case("connection refused: first delay", REFUSED, 1, None, Retry(5.0, REFUSED_NAME)),
    Case("connection dropped", DROPPED, 1, None, Retry(5.0, "ServerDisconnectedError")),
    Case("refused, attempt 3: third delay", REFUSED, 3, None, Retry(1800.0, REFUSED_NAME)),
    Case("timeout on the last attempt", TIMED_OUT, LAST, None, Retry(DAY, "TimeoutError")),
    Case("timeout past the schedule: dead", TIMED_OUT, LAST + 1, None, Dead("TimeoutError")),
    Case("refused past the schedule: dead", REFUSED, LAST + 1, None, Dead(REFUSED_NAME)),
]


def _no_jitter(low: float, high: float) -> float:
    return 1.0


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_each_hub_answer_and_attempt_has_one_verdict(case: Case) -> None:
    assert decide(case.answer, case.attempt, S, case.retry_after, _no_jitter) == case.verdict


def test_the_schedule_is_jittered_by_a_tenth_either_way_and_retry_after_is_not() -> None:
    asked = []

    def jitter(low: float, high: float) -> float:
        asked.append((low, high))
        return high

    assert decide(503, 2, S, None, jitter) == Retry(300.0 * 1.1, "HTTP 503")
    assert decide(503, 2, S, "7", jitter) == Retry(7.0, "HTTP 503")
    assert asked == [(0.9, 1.1)]
