"""Meta's side of webhooks: status objects, the signed envelope, and batched delivery.

Every user has a business-scoped user id (BSUID, `user_id_of`: derived from their number, so
it is stable across runs) in every webhook: a status of a send to a number carries it as
`recipient_user_id` beside `recipient_id`; a send to a BSUID has no `recipient_id`
(`simulator.meta` takes it off), as Meta does for a user whose number is withheld. Delivered
and read POSTs carry `contacts[]` with the username of the users who have one
(`Outbox.usernames`, set by `/_sim/inbound`).

Statuses wait in a heap until due; a flusher collects what is due every `batch_ms` and POSTs
it, up to 1,000 statuses per POST, as Meta batches them. A POST the service does not answer
200 is retried with backoff (same bytes), then given up and counted.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import hmac
import itertools
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

WABA_ID = "102290129340398"
DISPLAY_PHONE_NUMBER = "15550000000"
MAX_STATUSES_PER_POST = 1000
_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)
_CONCURRENCY = 32
_TIMEOUT_S = 10.0
_CONVERSATION_STATUSES = {"sent", "delivered"}
_USERNAME_STATUSES = {"delivered", "read"}
_PRICED_STATUSES = {"sent", "delivered"}
_UTILITY = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}


@dataclass
class WebhookStats:
    webhooks_sent: int = 0  # POSTs the service answered 200
    statuses_sent: int = 0  # statuses in those POSTs
    webhook_failures: int = 0  # POSTs given up after every retry


def sign(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value Meta sends: HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def envelope(phone_number_id: str, value: dict[str, Any]) -> dict[str, Any]:
    """One entry with one `messages` change, as Meta wraps statuses and inbound messages."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": DISPLAY_PHONE_NUMBER,
            "phone_number_id": phone_number_id,
        },
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}],
    }


def user_id_of(phone: str) -> str:
    """The simulated BSUID of the user with this number."""
    return "US." + str(int(hashlib.sha256(phone.encode()).hexdigest(), 16))[:20]


def is_user_id(to: str) -> bool:
    return "." in to


def status_object(
    wamid: str,
    spec: dict[str, Any],
    to: str,
    at: float,
    callback_data: Any,
    pricing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One entry of `value.statuses`; `spec` is `{"status": ...}` plus error fields for failed;
    `pricing` goes on `sent` and `delivered` (default: a billable utility message)."""
    name = spec["status"]
    # `simulator.meta` takes `recipient_id` off the statuses of a send by BSUID alone.
    status: dict[str, Any] = {
        "id": wamid,
        "status": name,
        "timestamp": str(int(at)),
        "recipient_id": to,
    }
    if not is_user_id(to):
        status["recipient_user_id"] = user_id_of(to)
    elif to[2:7] == ".ENT.":
        status["recipient_parent_user_id"] = to
    else:
        status["recipient_user_id"] = to
    if callback_data is not None:
        status["biz_opaque_callback_data"] = callback_data
    if name in _CONVERSATION_STATUSES:
        # Meta keys conversations by recipient and 24 h window; the recipient is enough here.
        conversation_id = hashlib.sha256(to.encode()).hexdigest()[:32]
        status["conversation"] = {
            "id": conversation_id,
            "expiration_timestamp": str(int(at) + 86400),
            "origin": {"type": "utility"},
        }
    if name in _PRICED_STATUSES:
        status["pricing"] = pricing or _UTILITY
    if name == "failed":
        title = spec.get("title", "Message undeliverable")
        status["errors"] = [
            {
                "code": spec.get("code", 131026),
                "title": title,
                "message": title,
                "error_data": {"details": spec.get("details", "Message Undeliverable.")},
            }
        ]
    return status


class Outbox:
    """Status webhooks waiting to be due, and the POSTs carrying them to the service."""

    def __init__(self, url: str, secret: str, phone_number_id: str, batch_ms: int) -> None:
        self.url = url
        self._secret = secret
        self._phone_number_id = phone_number_id  # the default: inbound messages without one
        self._batch_s = max(batch_ms, 1) / 1000
        # (due, seq, copy, business number, status)
        self._heap: list[tuple[float, int, int, str, dict[str, Any]]] = []
        self._seq = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight = 0
        self._limit = asyncio.Semaphore(_CONCURRENCY)
        self._client: httpx.AsyncClient | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.stats = WebhookStats()
        self.usernames: dict[str, str] = {}  # BSUID -> the username the user adopted

    @property
    def pending(self) -> int:
        """Statuses scheduled or in a POST not yet answered."""
        return len(self._heap) + self._in_flight

    async def start(self) -> None:
        """Open the pooled client and start flushing."""
        limits = httpx.Limits(max_connections=_CONCURRENCY, max_keepalive_connections=_CONCURRENCY)
        self._client = httpx.AsyncClient(
            limits=limits, timeout=httpx.Timeout(_TIMEOUT_S, pool=None)
        )
        self._flusher = asyncio.create_task(self._flush_forever())

    async def stop(self) -> None:
        """Drop what is still scheduled, cancel POSTs in flight, close the client."""
        if self._flusher:
            self._flusher.cancel()
        self.reset()
        if self._client:
            await self._client.aclose()

    def reset(self) -> None:
        """Forget scheduled statuses, POSTs in flight and counters."""
        # Cancelled deliveries take their statuses off `_in_flight` themselves.
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
        self._heap.clear()
        self.stats = WebhookStats()
        self.usernames.clear()

    def schedule(
        self, due: float, status: dict[str, Any], copies: int = 1, number: str | None = None
    ) -> None:
        """Send `status` of a message from business `number` at `due` (unix time); each copy
        goes in a POST of its own."""
        if not self.url:
            return
        number = number or self._phone_number_id
        for copy in range(copies):
            heapq.heappush(self._heap, (due, next(self._seq), copy, number, status))

    async def post(self, payload: dict[str, Any]) -> httpx.Response:
        """One signed POST of `payload` as-is, without retries (for inbound messages)."""
        assert self._client is not None
        body = orjson.dumps(payload)
        response = await self._client.post(self.url, content=body, headers=self._headers(body))
        if response.status_code == 200:
            self.stats.webhooks_sent += 1
        return response

    def value_envelope(self, value: dict[str, Any], number: str | None = None) -> dict[str, Any]:
        """The envelope around `value` for business `number` (default: the first)."""
        return envelope(number or self._phone_number_id, value)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self._batch_s)
            self._flush(time.time())

    def _flush(self, now: float) -> None:
        lanes: dict[tuple[int, str], list[dict[str, Any]]] = {}
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, copy, number, status = heapq.heappop(heap)
            lanes.setdefault((copy, number), []).append(status)
        for (_, number), statuses in lanes.items():
            for i in range(0, len(statuses), MAX_STATUSES_PER_POST):
                chunk = statuses[i : i + MAX_STATUSES_PER_POST]
                value: dict[str, Any] = {"statuses": chunk}
                if contacts := self._contacts(chunk):
                    value = {"contacts": contacts, **value}
                body = orjson.dumps(self.value_envelope(value, number))
                self._spawn(self._deliver(body, len(chunk)))

    def _contacts(self, statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Meta's `contacts[]` of a status POST: the username of each delivered or read
        recipient who has one."""
        contacts: dict[str, dict[str, Any]] = {}
        for s in statuses:
            user_id = s.get("recipient_user_id")
            username = self.usernames.get(user_id) if user_id else None
            if username and s["status"] in _USERNAME_STATUSES:
                contact = {"profile": {"username": username}, "user_id": user_id}
                if "recipient_id" in s:
                    contact["wa_id"] = s["recipient_id"]
                contacts.setdefault(user_id, contact)
        return list(contacts.values())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, body: bytes, count: int) -> None:
        assert self._client is not None
        self._in_flight += count
        headers = self._headers(body)
        try:
            for wait_s in (*_BACKOFF_S, None):
                try:
                    async with self._limit:
                        response = await self._client.post(self.url, content=body, headers=headers)
                    if response.status_code == 200:
                        self.stats.webhooks_sent += 1
                        self.stats.statuses_sent += count
                        return
                except httpx.HTTPError:
                    pass
                if wait_s is None:
                    break
                await asyncio.sleep(wait_s)
            self.stats.webhook_failures += 1
        finally:
            self._in_flight -= count

    def _headers(self, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "User-Agent": "facebookexternalua",
            "X-Hub-Signature-256": sign(self._secret, body),
        }
