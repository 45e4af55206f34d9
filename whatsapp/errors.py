"""What Meta's answers mean: the error taxonomy that decides retries, from Meta's codes.

- `MetaUnavailable`: retryable (network errors before the request was sent, 5xx, Meta's
  "try again" codes).
- `MetaThrottled`: the whole number sends too fast (130429 and friends): back the number off.
  `MetaPairLimited` (131056): too many messages to one recipient; only that one waits.
- `MetaPaused`: nothing on this number will succeed for a while (spam limit 131048, token
  expired or invalid 190, account locked): pause sending and alert, keep the messages.
- `MetaRejected`: permanent; the message fails with Meta's code, title and details. Some
  codes are permanent whatever the HTTP status (131062: Meta will not send this message to
  a business-scoped user id; 131049 and 131050, the marketing refusals, which also carry a
  `reason` in plain words: `reason_for`).
- `MetaOutcomeUnknown`: the request may have reached Meta (timeout after sending, broken
  answer). Never retried, because a retry could send the message twice.
"""

from __future__ import annotations

from typing import Any

import orjson

# Meta error codes worth another try: 1/2 API unknown/service, 131000 "something went wrong",
# 131016 service unavailable, 133004 server temporarily unavailable.
_RETRYABLE_CODES = {1, 2, 131000, 131016, 133004}
_THROTTLE_CODES = {4, 613, 80007, 130429}
_PAIR_LIMIT_CODE = 131056
# 131048 spam rate limit, 190 access token expired or invalid, 368 temporarily blocked for
# policy violations, 131031 business account locked.
_PAUSE_CODES = {131048, 190, 368, 131031}
# "More than 24 hours have passed since the customer last replied": the contact's
# customer-service window is closed (an answer to the send, or a `failed` status).
OUTSIDE_WINDOW_CODE = 131047
# "Business-scoped User ID recipients are not supported for this message": authentication
# templates (one-tap, zero-tap, copy-code) need the phone number. Sending again cannot help.
USER_ID_UNSUPPORTED_CODE = 131062
# Meta's per-user marketing limit ("not delivered to maintain healthy ecosystem engagement"):
# the user got enough marketing messages lately, from any business. Meta penalises quick
# retries, so the message fails; a later send (after a day) may go.
MARKETING_LIMIT_CODE = 131049
# The user stopped marketing messages from this business number: the stop is recorded too.
MARKETING_STOPPED_CODE = 131050
_PERMANENT_CODES = {USER_ID_UNSUPPORTED_CODE, MARKETING_LIMIT_CODE, MARKETING_STOPPED_CODE}
_REASONS = {
    MARKETING_LIMIT_CODE: "Meta's per-user marketing limit: the user received enough marketing "
    "messages lately (from any business); not retried, since quick retries count against "
    "the number; a marketing template may go again after about a day",
    MARKETING_STOPPED_CODE: "the user stopped marketing messages from this business number; "
    "not retried; recorded, so marketing templates to them are refused (422 "
    "marketing_opted_out) until they resume",
}


class MetaError(Exception):
    retryable = False

    def __init__(
        self,
        code: int | str,
        title: str,
        message: str = "",
        details: str = "",
        http_status: int | None = None,
        subcode: Any = None,
    ) -> None:
        super().__init__(f"{code} {title}")
        self.code = code
        self.title = title
        self.message = message
        self.details = details
        self.http_status = http_status
        self.subcode = subcode

    def as_error(self) -> dict[str, Any]:
        """The `error` object stored on the message and sent to the Hub."""
        return {
            "code": self.code,
            "title": self.title,
            "message": self.message,
            "details": self.details,
            "http_status": self.http_status,
            **reason_for(self.code),
        }


class MetaUnavailable(MetaError):
    retryable = True


class MetaThrottled(MetaError):
    retryable = True


class MetaPairLimited(MetaThrottled):
    pass


class MetaPaused(MetaError):
    retryable = True


class MetaRejected(MetaError):
    pass


class MetaOutcomeUnknown(MetaError):
    pass


def error_from_response(status: int, body: Any) -> MetaError:
    """Classify Meta's non-2xx answer, `{"error": {...}}` or anything else."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        err = {}
    code = err.get("code", f"http_{status}")
    message = err.get("message", "")
    title = err.get("error_user_title") or err.get("title") or message or f"HTTP {status}"
    data = err.get("error_data")
    details = data.get("details", "") if isinstance(data, dict) else ""
    cls: type[MetaError]
    if code in _PERMANENT_CODES:
        cls = MetaRejected
    elif code == _PAIR_LIMIT_CODE:
        cls = MetaPairLimited
    elif code in _PAUSE_CODES or status == 401:
        cls = MetaPaused
    elif code in _THROTTLE_CODES or status == 429:
        cls = MetaThrottled
    elif code in _RETRYABLE_CODES or status >= 500:
        cls = MetaUnavailable
    else:
        cls = MetaRejected
    return cls(code, title, message, details, status, err.get("error_subcode"))


def reason_for(code: Any) -> dict[str, str]:
    """`{"reason": ...}`, what a failure with Meta's `code` means in plain words, for the codes
    whose title does not say it (131049, 131050); `{}` for the others."""
    try:
        reason = _REASONS.get(int(code))
    except (TypeError, ValueError):
        return {}
    return {"reason": reason} if reason else {}


def json_or_none(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
