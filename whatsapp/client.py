"""Meta's Cloud API client: every call the service makes to Meta, and nothing of the web.

- `send_message` is the worker's hot path, on aiohttp (through httpx the same call costs
  about 3x the CPU; README, Dependencies). Its exceptions say exactly whether the request
  could have left: a connection that never opened is `MetaUnavailable("network")`, safe to
  retry; anything later is `MetaOutcomeUnknown`, never retried.
- `call` runs the web's calls (mark read, media upload, lookup and download) on httpx, whose
  request building and streaming they use; a failure is raised as a `MetaError` for the web
  to answer (`server.meta_answers`), never retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import orjson

from core.failures import nothing_sent
from whatsapp.errors import (
    MetaError,
    MetaOutcomeUnknown,
    MetaUnavailable,
    error_from_response,
    json_or_none,
)
from whatsapp.recipients import parse_user_id


@dataclass(frozen=True, slots=True)
class SendAnswer:
    """Meta's 200 to a send: the wamid, the BSUID `contacts[0].user_id` names, if any, and
    `messages[0].message_status` (`accepted`, `held_for_quality_assessment`...), if given."""

    wamid: str
    user_id: str | None = None
    message_status: str | None = None


async def send_message(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    payload: dict[str, Any],
) -> SendAnswer:
    """POST one message; return Meta's answer or raise a MetaError subclass."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = orjson.dumps(payload)
    try:
        # No redirects: following one would POST the message a second time.
        async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
            status, content = response.status, await response.read()
    except Exception as exc:
        if nothing_sent(exc):
            raise MetaUnavailable("network", "could not reach Meta", type(exc).__name__) from None
        raise MetaOutcomeUnknown(
            "outcome_unknown",
            "no answer from Meta after sending",
            f"{type(exc).__name__}; the message may or may not have been sent",
        ) from None
    answer = json_or_none(content)
    if status == 200:
        try:
            sent = answer["messages"][0]
            return SendAnswer(sent["id"], _user_id(answer), _message_status(sent))
        except (KeyError, IndexError, TypeError):
            raise MetaOutcomeUnknown(
                "outcome_unknown",
                "Meta answered 200 without a message id",
                content[:500].decode(errors="replace"),
                200,
            ) from None
    raise error_from_response(status, answer)


def _user_id(answer: dict[str, Any]) -> str | None:
    """`contacts[0].user_id`: Meta names the BSUID of a send by `recipient` (a malformed one is
    ignored: the send itself succeeded)."""
    contacts = answer.get("contacts")
    contact = contacts[0] if isinstance(contacts, list) and contacts else None
    user_id = contact.get("user_id") if isinstance(contact, dict) else None
    try:
        return parse_user_id(user_id) if isinstance(user_id, str) else None
    except ValueError:
        return None


def _message_status(sent: dict[str, Any]) -> str | None:
    status = sent.get("message_status")
    return status if isinstance(status, str) else None


def open_client(timeout_s: float, token: str | None = None) -> httpx.AsyncClient:
    """An httpx client for Meta's calls: with `token`, every request carries it; without,
    each request names its own (the web's: each business number may have its own token)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(timeout=timeout_s, headers=headers)


async def call(
    client: httpx.AsyncClient, request: httpx.Request, *, stream: bool = False
) -> httpx.Response:
    """Send `request`; a 2xx answer is returned (open, if `stream`), anything else raised:
    no answer in time as `MetaOutcomeUnknown`, no connection as `MetaUnavailable`, Meta's
    refusals classified by `error_from_response`."""
    try:
        response = await client.send(request, stream=stream)
    except httpx.TimeoutException as exc:
        raise MetaOutcomeUnknown(
            "timeout", f"Meta did not answer in time ({type(exc).__name__})"
        ) from None
    except httpx.HTTPError as exc:
        raise MetaUnavailable("network", f"could not reach Meta ({type(exc).__name__})") from None
    if response.is_success:
        return response
    try:
        # Error bodies are small JSON; a stream's is read (bounded by the timeout) and closed.
        content = await response.aread()
    except httpx.HTTPError:
        content = b""
    finally:
        await response.aclose()
    raise error_from_response(response.status_code, json_or_none(content))


def json_object(response: httpx.Response) -> dict[str, Any]:
    """A 2xx answer's JSON object; anything else is Meta misbehaving."""
    body = json_or_none(response.content)
    if not isinstance(body, dict):
        raise MetaUnavailable("bad_answer", "Meta answered without a JSON object")
    return body


__all__ = ["MetaError", "SendAnswer", "call", "json_object", "open_client", "send_message"]
