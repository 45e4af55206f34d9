"""The web's calls to Meta (mark read, media), answered to the Hub: Meta's errors as API errors.

The calls themselves are `whatsapp.client.call`; a failure is answered, never retried:

- Meta throttling (rate limits, the spam limit 131048) -> 429 `meta_throttled` (retry later);
- Meta down, unreachable, refusing *our* credentials, or blocking the business account -> 502
  `meta_unavailable` (nothing the Hub can fix; the answer names the setting, never its value),
  no answer in time -> 504 `meta_timeout`;
- an object Meta does not know (404, or code 100 subcode 33) -> 404 `not_found` when the id is
  the Hub's (a media id), else 502: the unknown object is our phone number id;
- any other refusal -> 422 `meta_rejected` with Meta's code, title and details.
"""

from __future__ import annotations

from typing import Any

import httpx

from server.api_errors import ApiError, NotFound
from whatsapp import client as meta
from whatsapp.errors import (
    MetaError,
    MetaOutcomeUnknown,
    MetaPaused,
    MetaThrottled,
    MetaUnavailable,
)

# Meta's "your token or app may not do this" codes: 190 bad token, 10 and 200 permissions.
_CREDENTIAL_CODES = {10, 190, 200}
_SPAM_RATE_LIMIT_CODE = 131048
_OBJECT_MISSING_SUBCODE = 33


class MetaRejectedRequest(ApiError):
    status = 422
    code = "meta_rejected"

    def __init__(self, error: MetaError) -> None:
        super().__init__(f"Meta rejected the request: {error.title}")
        self.meta = error.as_error()

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"]["meta"] = self.meta
        return body


class MetaThrottledRequest(MetaRejectedRequest):
    status = 429
    code = "meta_throttled"


class MetaUnavailableError(ApiError):
    status = 502
    code = "meta_unavailable"


class MetaTimeout(ApiError):
    status = 504
    code = "meta_timeout"


# What a call to Meta in a request can raise (beyond a 404), for the OpenAPI declarations.
CALL_ERRORS = (MetaRejectedRequest, MetaThrottledRequest, MetaUnavailableError, MetaTimeout)


async def call(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    not_found: str | None = None,
    stream: bool = False,
) -> httpx.Response:
    """`whatsapp.client.call`, its failure raised as the API error the Hub gets.

    `not_found` is the 404 message when the URL names an object of the Hub's (a media id).
    """
    try:
        return await meta.call(client, request, stream=stream)
    except MetaError as exc:
        raise api_error(exc, not_found) from None


def json_body(response: httpx.Response) -> dict[str, Any]:
    """A 2xx answer's JSON object; anything else is Meta misbehaving, a 502."""
    try:
        return meta.json_object(response)
    except MetaError as exc:
        raise api_error(exc) from None


def api_error(error: MetaError, not_found: str | None = None) -> ApiError:
    """The API error the Hub gets for a failed call to Meta."""
    if isinstance(error, MetaOutcomeUnknown):
        return MetaTimeout(error.title)
    if error.http_status is None:  # no answer we could read: Meta unreachable or broken
        return MetaUnavailableError(error.title)
    if error.http_status in (404, 410) or error.subcode == _OBJECT_MISSING_SUBCODE:
        if not_found:
            return NotFound(not_found)
        return MetaUnavailableError(
            f"Meta does not know the object in the URL (code {error.code}); "
            "check WHATSAPP_PHONE_NUMBER_ID"
        )
    if error.http_status in (401, 403) or error.code in _CREDENTIAL_CODES:
        return MetaUnavailableError(
            f"Meta refused the service's credentials (code {error.code}); "
            "check WHATSAPP_ACCESS_TOKEN and the app's permissions"
        )
    if isinstance(error, MetaThrottled) or error.code == _SPAM_RATE_LIMIT_CODE:
        return MetaThrottledRequest(error)
    if isinstance(error, MetaPaused):  # the business account is blocked or locked
        return MetaUnavailableError(f"Meta refuses the business account: {error.title}")
    if isinstance(error, MetaUnavailable):
        return MetaUnavailableError(f"Meta is unavailable: {error.code} {error.title}")
    return MetaRejectedRequest(error)
