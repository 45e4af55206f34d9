"""Meta's Cloud API send call and the error taxonomy that decides retries.

- `MetaUnavailable`: retryable (network errors before the request was sent, 5xx, Meta's
  "try again" codes).
- `MetaThrottled`: the whole number sends too fast (130429 and friends): back the number off.
  `MetaPairLimited` (131056): too many messages to one recipient; only that one waits.
- `MetaPaused`: nothing on this number will succeed for a while (spam limit 131048, token
  expired or invalid 190, account locked): pause sending and alert, keep the messages.
- `MetaRejected`: permanent; the message fails with Meta's code, title and details.
- `MetaOutcomeUnknown`: the request may have reached Meta (timeout after sending, broken
  answer). Never retried, because a retry could send the message twice; the message stays
  `sending` until a status webhook (which carries our id) or the sweeper settles it.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

# Meta error codes worth another try: 1/2 API unknown/service, 4/80007/130429/131056/613
# rate limits, 131000 "something went wrong", 131016 service unavailable, 133004 server
# temporarily unavailable.
_RETRYABLE_CODES = {1, 2, 131000, 131016, 133004}
_THROTTLE_CODES = {4, 613, 80007, 130429}
_PAIR_LIMIT_CODE = 131056
# 131048 spam rate limit, 190 access token expired or invalid, 368 temporarily blocked for
# policy violations, 131031 business account locked.
_PAUSE_CODES = {131048, 190, 368, 131031}


class MetaError(Exception):
    retryable = False

    def __init__(
        self,
        code: int | str,
        title: str,
        message: str = "",
        details: str = "",
        http_status: int | None = None,
    ) -> None:
        super().__init__(f"{code} {title}")
        self.code = code
        self.title = title
        self.message = message
        self.details = details
        self.http_status = http_status

    def as_error(self) -> dict[str, Any]:
        """The `error` object stored on the message and sent to the Hub."""
        return {
            "code": self.code,
            "title": self.title,
            "message": self.message,
            "details": self.details,
            "http_status": self.http_status,
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


async def send_message(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    payload: dict[str, Any],
    ticket: object = None,
) -> str:
    """POST one message; return Meta's wamid or raise a MetaError subclass. The `ticket`
    is the rate window's: the session's trace stamps it as the request is written."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = orjson.dumps(payload)
    try:
        # No redirects: following one would POST the message a second time.
        async with session.post(
            url, data=body, headers=headers, allow_redirects=False, trace_request_ctx=ticket
        ) as response:
            status, content = response.status, await response.read()
    except Exception as exc:
        if nothing_sent(exc):
            raise MetaUnavailable("network", "could not reach Meta", type(exc).__name__) from None
        raise MetaOutcomeUnknown(
            "outcome_unknown",
            "no answer from Meta after sending",
            f"{type(exc).__name__}; the message may or may not have been sent",
        ) from None
    body = _json(content)
    if status == 200:
        try:
            return body["messages"][0]["id"]
        except (KeyError, IndexError, TypeError):
            raise MetaOutcomeUnknown(
                "outcome_unknown",
                "Meta answered 200 without a message id",
                content[:500].decode(errors="replace"),
                200,
            ) from None
    raise error_from_response(status, body)


def nothing_sent(exc: BaseException) -> bool:
    """True only when the request cannot have reached the server: the connection never
    opened (refused, unreachable, or no connection within the connect timeout)."""
    return isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)


def error_from_response(status: int, body: Any) -> MetaError:
    """Classify Meta's `{"error": {...}}` answer."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        err = {}
    code = err.get("code", f"http_{status}")
    message = err.get("message", "")
    title = err.get("error_user_title") or err.get("title") or message or f"HTTP {status}"
    data = err.get("error_data")
    details = data.get("details", "") if isinstance(data, dict) else ""
    cls: type[MetaError]
    if code == _PAIR_LIMIT_CODE:
        cls = MetaPairLimited
    elif code in _PAUSE_CODES or status == 401:
        cls = MetaPaused
    elif code in _THROTTLE_CODES or status == 429:
        cls = MetaThrottled
    elif code in _RETRYABLE_CODES or status >= 500:
        cls = MetaUnavailable
    else:
        cls = MetaRejected
    return cls(code, title, message, details, status)


def _json(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
