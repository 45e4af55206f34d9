"""consumers.send_policy.decide as one table: each kind of Meta answer x the message's attempt
count -> the verdict the sender carries out, the way dramatiq tests its Retries middleware.

Meta's error answers (tests/fixtures/meta_errors.json: Meta's Graph API error envelope, one
per code the taxonomy names, and some it does not) go through the one classifier
(`whatsapp.errors.error_from_response`); the network failures are the errors
`whatsapp.client.send_message` raises (tests/whatsapp/test_client.py maps real sockets onto
them). The settings are the defaults. Pure: no network, PostgreSQL or Redis.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import orjson
import pytest

from consumers.send_policy import (
    AwaitStatus,
    BackOff,
    Fail,
    HoldRecipient,
    PauseNumber,
    Retry,
    Sent,
    decide,
    retry_delay_s,
)
from core.settings import Settings
from tests.support.settings import VALID
from whatsapp.client import SendAnswer
from whatsapp.errors import (
    MetaError,
    MetaOutcomeUnknown,
    MetaUnavailable,
    error_from_response,
    json_or_none,
)

S = Settings.from_env(VALID)
LAST = S.send_max_attempts  # 8: the last Meta call a message gets
_ANSWERS = orjson.loads((Path(__file__).parents[1] / "fixtures" / "meta_errors.json").read_bytes())


def meta(code: int, status: int | None = None) -> MetaError:
    """Meta's answer with `code` (on its usual status, or `status`), classified as the client
    classifies it."""
    answer = _ANSWERS[str(code)]
    return error_from_response(status or answer["status"], answer["body"])


def raw(status: int, content: bytes = b"") -> MetaError:
    """An answer without Meta's error object (a proxy's page, an empty body), or `content`."""
    return error_from_response(status, json_or_none(content))


# What whatsapp.client.send_message raises when no answer came: the connection never opened
# (nothing sent), or it did and then timed out, dropped or answered 200 without a wamid.
NO_CONNECTION = MetaUnavailable("network", "could not reach Meta", "ClientConnectorError")
TIMED_OUT = MetaOutcomeUnknown(
    "outcome_unknown",
    "no answer from Meta after sending",
    "SocketTimeoutError; the message may or may not have been sent",
)
NO_WAMID = MetaOutcomeUnknown("outcome_unknown", "Meta answered 200 without a message id", "{}")
UNKNOWN = b'{"error": {"code": 987654, "message": "(#987654) New to us"}}'
WAMID = SendAnswer("wamid.HBgLMTIzNDU2Nzg5MA==")
BY_USER_ID = SendAnswer("wamid.HBgLMTIzNDU2Nzg5MQ==", "US.13491208655302741918")
HELD = SendAnswer("wamid.HBgLMTIzNDU2Nzg5Mg==", None, "held_for_quality_assessment")


def wait(attempts: int) -> float:
    """RETRY_INITIAL_S doubled per call made, capped at RETRY_MAX_S (jitter left out)."""
    return min(S.retry_max_s, S.retry_initial_s * 2 ** (attempts - 1))


class Case(NamedTuple):
    label: str
    answer: SendAnswer | MetaError
    attempts: int  # Meta calls the message has had, this one included
    verdict: type
    seconds: float | None = None


PAUSE, HOLD, BACK_OFF = S.send_pause_s, S.pair_rate_limit_s, 2 * S.retry_initial_s

CASES = [
    Case("wamid: sent", WAMID, 1, Sent),
    Case("wamid, last call: sent", WAMID, LAST, Sent),
    Case("wamid naming a BSUID: sent, BSUID kept", BY_USER_ID, 1, Sent),
    Case("wamid, held for quality assessment: sent, message_status kept", HELD, 1, Sent),
    # the request may have left: never retried, whatever the count
    Case("timeout after sending: await status", TIMED_OUT, 1, AwaitStatus),
    Case("timeout after sending, last call: await status", TIMED_OUT, LAST, AwaitStatus),
    Case("200 without a wamid: await status", NO_WAMID, 1, AwaitStatus),
    # nothing reached Meta: retried until SEND_MAX_ATTEMPTS
    Case("no connection: retry", NO_CONNECTION, 1, Retry, wait(1)),
    Case("no connection, call 2: retry, doubled", NO_CONNECTION, 2, Retry, wait(2)),
    Case("no connection, call 7: retry", NO_CONNECTION, LAST - 1, Retry, wait(LAST - 1)),
    Case("no connection, last call: fail", NO_CONNECTION, LAST, Fail),
    # Meta's "try again": 5xx and the retryable codes
    Case("1 (400): retry", meta(1), 1, Retry, wait(1)),
    Case("2 (503): retry", meta(2), 1, Retry, wait(1)),
    Case("131000 (500): retry", meta(131000), 1, Retry, wait(1)),
    Case("131000 on a 400: retry", meta(131000, 400), 1, Retry, wait(1)),
    Case("131016 (500), call 3: retry", meta(131016), 3, Retry, wait(3)),
    Case("133004 (503): retry", meta(133004), 1, Retry, wait(1)),
    Case("131016, call 7: retry", meta(131016), LAST - 1, Retry, wait(LAST - 1)),
    Case("131000, last call: fail", meta(131000), LAST, Fail),
    Case("133004 past the last call: fail", meta(133004), LAST + 1, Fail),
    Case(
        "502 from a proxy, not JSON: retry",
        raw(502, b"<html>Bad Gateway</html>"),
        1,
        Retry,
        wait(1),
    ),
    Case("504 without a body, last call: fail", raw(504), LAST, Fail),
    Case("100 on a 500: retry", meta(100, 500), 1, Retry, wait(1)),
    Case("131057 maintenance (500): retry", meta(131057), 1, Retry, wait(1)),
    Case("unknown code on a 500, call 2: retry", raw(500, UNKNOWN), 2, Retry, wait(2)),
    # the number sends too fast: back off; the call is refunded, so never a failure
    Case("130429 throughput: back off", meta(130429), 1, BackOff, BACK_OFF),
    Case("130429, last call: back off", meta(130429), LAST, BackOff, BACK_OFF),
    Case("4 too many calls: back off", meta(4), 1, BackOff, BACK_OFF),
    Case("613 rate limit: back off", meta(613), 1, BackOff, BACK_OFF),
    Case("80007 rate limit: back off", meta(80007), 1, BackOff, BACK_OFF),
    Case("429 without a body: back off", raw(429), 1, BackOff, BACK_OFF),
    Case("unknown code on a 429: back off", raw(429, UNKNOWN), 1, BackOff, BACK_OFF),
    Case("130429 on a 500: back off", meta(130429, 500), 1, BackOff, BACK_OFF),
    # one recipient gets too many: only its messages wait; refunded
    Case("131056 pair limit: hold", meta(131056), 1, HoldRecipient, HOLD),
    Case("131056, last call: hold", meta(131056), LAST, HoldRecipient, HOLD),
    Case("131056 on a 429: hold", meta(131056, 429), 1, HoldRecipient, HOLD),
    Case("131056 on a 401: hold", meta(131056, 401), 1, HoldRecipient, HOLD),
    # nothing on the number will succeed for a while: pause it; refunded
    Case("131048 spam limit: pause", meta(131048), 1, PauseNumber, PAUSE),
    Case("131048, last call: pause", meta(131048), LAST, PauseNumber, PAUSE),
    Case("131048 on a 429: pause", meta(131048, 429), 1, PauseNumber, PAUSE),
    Case("190 token expired (401): pause", meta(190), 1, PauseNumber, PAUSE),
    Case("190 on a 400: pause", meta(190, 400), 1, PauseNumber, PAUSE),
    Case("368 blocked (403): pause", meta(368), 1, PauseNumber, PAUSE),
    Case("131031 account locked (403): pause", meta(131031), 1, PauseNumber, PAUSE),
    Case("401 without a body: pause", raw(401), 1, PauseNumber, PAUSE),
    Case("100 on a 401: pause", meta(100, 401), 1, PauseNumber, PAUSE),
    # anything else: the message fails at once, on any call
    Case("100 invalid parameter: fail", meta(100), 1, Fail),
    Case("131009 bad parameter value: fail", meta(131009), 1, Fail),
    Case("131026 undeliverable: fail", meta(131026), 1, Fail),
    Case("131026, call 7: fail", meta(131026), LAST - 1, Fail),
    Case("131047 window closed: fail", meta(131047), 1, Fail),
    Case("131062 authentication template to a BSUID: fail", meta(131062), 1, Fail),
    Case("131062 on a 500: fail, never retried", meta(131062, 500), 1, Fail),
    Case("131062 on a 429: fail, never backed off", meta(131062, 429), 1, Fail),
    # the marketing refusals: failed at once and never retried (Meta penalises quick retries)
    Case("131049 per-user marketing limit: fail", meta(131049), 1, Fail),
    Case("131049 on a 500: fail, never retried", meta(131049, 500), 1, Fail),
    Case("131049 on a 429: fail, never backed off", meta(131049, 429), 1, Fail),
    Case("131050 user stopped marketing: fail", meta(131050), 1, Fail),
    Case("131050 on a 503: fail, never retried", meta(131050, 503), 1, Fail),
    Case("132001 no such template (404): fail", meta(132001), 1, Fail),
    Case("131042 payment issue: fail", meta(131042), 1, Fail),
    Case("133010 number not registered: fail", meta(133010), 1, Fail),
    Case("135000 generic user error: fail", meta(135000), 1, Fail),
    Case("unknown code on a 400: fail", raw(400, UNKNOWN), 1, Fail),
    Case("403 without a body: fail", raw(403), 1, Fail),
    Case("404 from a proxy, not JSON: fail", raw(404, b"<html>Not Found</html>"), 1, Fail),
]


def _no_jitter(low: float, high: float) -> float:
    return 1.0


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_each_answer_and_attempt_count_has_one_verdict(case: Case) -> None:
    verdict = decide(case.answer, case.attempts, S, jitter=_no_jitter)
    assert type(verdict) is case.verdict
    if isinstance(verdict, Sent):
        answer = case.answer
        assert (verdict.wamid, verdict.user_id, verdict.message_status) == (
            answer.wamid,
            answer.user_id,
            answer.message_status,
        )
        return
    assert verdict.error is case.answer  # Meta's code, title and details, as recorded
    assert getattr(verdict, "seconds", None) == case.seconds


# attempts, then the wait before jitter (defaults: 0.5 s doubling, capped at 60 s)
DELAYS = [(0, 0.5), (1, 0.5), (2, 1.0), (3, 2.0), (7, 32.0), (8, 60.0), (50, 60.0)]


@pytest.mark.parametrize(("attempts", "seconds"), DELAYS, ids=[f"call {a}" for a, _ in DELAYS])
def test_retry_waits_double_up_to_the_cap(attempts: int, seconds: float) -> None:
    assert retry_delay_s(S, attempts, _no_jitter) == seconds


def test_retry_waits_are_jittered_by_a_fifth_either_way() -> None:
    asked = []

    def jitter(low: float, high: float) -> float:
        asked.append((low, high))
        return high

    assert retry_delay_s(S, 3, jitter) == 2.0 * 1.2
    assert asked == [(0.8, 1.2)]


REASONS = [
    ("131049: Meta's per-user marketing limit", 131049, "per-user marketing limit"),
    ("131050: the user stopped marketing", 131050, "stopped marketing messages"),
    ("131026: Meta's title says it", 131026, None),
]


@pytest.mark.parametrize(("label", "code", "says"), REASONS, ids=[r[0] for r in REASONS])
def test_the_marketing_failures_carry_a_reason_in_plain_words(label, code, says) -> None:
    error = decide(meta(code), 1, S).error.as_error()
    assert error["code"] == code and error["title"]  # Meta's, as recorded
    assert (says in error["reason"]) if says else ("reason" not in error)
