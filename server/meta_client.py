"""The web process's own calls to Meta (mark read, media): one client, Meta's errors as API errors.

The worker's send path and these calls read Meta's answers the same way
(`consumers.meta.error_from_response`); here a failure is answered, not retried:

- Meta throttling (rate limits, the spam limit 131048) -> 429 `meta_throttled` (retry later);
- Meta down, unreachable, refusing *our* credentials, or blocking the business account -> 502
  `meta_unavailable` (nothing the Hub can fix; the answer names the setting, never its value),
  a timeout -> 504 `meta_timeout`;
- an object Meta does not know (404, or code 100 subcode 33) -> 404 `not_found` when the id is
  the Hub's (a media id), else 502: the unknown object is our phone number id;
- any other refusal -> 422 `meta_rejected` with Meta's code, title and details.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from consumers.meta import (
    MetaError,
    MetaPaused,
    MetaThrottled,
    MetaUnavailable,
    error_from_response,
)
from server.errors import ApiError, NotFound
from server.settings import Settings

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


def open_client(settings: Settings) -> httpx.AsyncClient:
    """The client every web-side Meta call uses; it carries the bearer token itself."""
    return httpx.AsyncClient(
        timeout=settings.http_timeout_s,
        headers={"Authorization": f"Bearer {settings.access_token}"},
    )


async def call(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    not_found: str | None = None,
    stream: bool = False,
) -> httpx.Response:
    """Send `request` to Meta; a 2xx answer is returned (open, if `stream`), anything else raised.

    `not_found` is the 404 message when the URL names an object of the Hub's (a media id).
    """
    try:
        response = await client.send(request, stream=stream)
    except httpx.TimeoutException as exc:
        raise MetaTimeout(f"Meta did not answer in time ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise MetaUnavailableError(f"could not reach Meta ({type(exc).__name__})") from None
    if response.is_success:
        return response
    try:
        # Error bodies are small JSON; a stream's is read (bounded by the timeout) and closed.
        content = await response.aread()
    except httpx.HTTPError:
        content = b""
    finally:
        await response.aclose()
    raise api_error(response.status_code, _json(content), not_found)


def api_error(status: int, body: Any, not_found: str | None = None) -> ApiError:
    """The API error the Hub gets for Meta's non-2xx answer."""
    error = error_from_response(status, body)
    if status in (404, 410) or _subcode(body) == _OBJECT_MISSING_SUBCODE:
        if not_found:
            return NotFound(not_found)
        return MetaUnavailableError(
            f"Meta does not know the object in the URL (code {error.code}); "
            "check WHATSAPP_PHONE_NUMBER_ID"
        )
    if status in (401, 403) or error.code in _CREDENTIAL_CODES:
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


def json_body(response: httpx.Response) -> dict[str, Any]:
    """A 2xx answer's JSON object; anything else is Meta misbehaving, a 502."""
    body = _json(response.content)
    if not isinstance(body, dict):
        raise MetaUnavailableError("Meta answered without a JSON object")
    return body


def _json(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


def _subcode(body: Any) -> Any:
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("error_subcode") if isinstance(error, dict) else None
