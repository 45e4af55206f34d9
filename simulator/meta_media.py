"""Meta's media endpoints and the mark-read call, played by the simulator.

- `POST /{version}/{phone_number_id}/media`: a multipart upload, checked as Meta does (token,
  `messaging_product`, `type`, size per type); answers `{"id"}`.
- `GET /{version}/{media_id}`: the media's `url` (on this simulator), `mime_type`, `sha256`,
  `file_size`; an unknown id is Meta's 400, code 100, subcode 33.
- `GET /whatsapp_business/attachments/?mid=`: the download; needs the bearer token, like Meta's.
- Mark read (`status: read` on `/messages`): checked and recorded; `GET /_sim/reads` lists them.
- `POST /_sim/media`: seeds an inbound file, `{"mime_type", "size"}` (random bytes) or
  `{"mime_type", "content_b64"}`; `hold_at` pauses its download after that many bytes until
  `POST /_sim/media/{id}/release` (tests prove the service streams with it); `break_at` drops
  the connection after that many bytes.
- `POST /_sim/faults`: `{"operation": "upload"|"lookup"|"download"|"read", "responses": [...]}`,
  error answers consumed one per call, shaped as in `/_sim/scenarios` (plus `error_subcode`).

Files live in memory; the oldest are forgotten past `MAX_STORED_BYTES`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json

from simulator.meta_checks import error_body
from simulator.scenarios import step_error
from simulator.serve import loads
from whatsapp import media_rules

MAX_STORED_BYTES = 1 << 30
OPERATIONS = ("upload", "lookup", "download", "read")
_CHUNK_BYTES = 256 * 1024
_DOWNLOAD_PATH = "/whatsapp_business/attachments/"


@dataclass
class Media:
    data: bytes
    mime_type: str
    sha256: str
    hold_at: int | None = None
    break_at: int | None = None
    released: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class MediaState:
    media: dict[str, Media] = field(default_factory=dict)
    reads: list[dict[str, Any]] = field(default_factory=list)
    inbound: set[str] = field(default_factory=set)  # wamids of the messages "users" sent
    faults: dict[str, deque[dict[str, Any]]] = field(
        default_factory=lambda: {op: deque() for op in OPERATIONS}
    )

    def add(self, data: bytes, mime_type: str, **options: int | None) -> tuple[str, Media]:
        media_id = str(secrets.randbelow(10**15) + 10**15)  # Meta's ids are 16 digits
        item = Media(data, mime_type, hashlib.sha256(data).hexdigest(), **options)
        self.media[media_id] = item
        while sum(len(m.data) for m in self.media.values()) > MAX_STORED_BYTES:
            del self.media[next(iter(self.media))]
        return media_id, item

    def fault(self, operation: str) -> tuple[int, dict[str, Any]] | None:
        """The next injected error answer for `operation`, if one is queued."""
        queue = self.faults[operation]
        step = queue.popleft() if queue else {}
        if step.get("status", 200) < 300:
            return None
        status, body = step_error(step)
        if isinstance(step.get("error_subcode"), int):  # 33: "Object with ID ... does not exist"
            body["error"]["error_subcode"] = step["error_subcode"]
        return status, body


def register(app: Sanic) -> None:
    """Add the media routes and state to the simulator app."""
    app.ctx.media = MediaState()
    app.config.REQUEST_MAX_SIZE = media_rules.LARGEST_BYTES + 1_000_000
    app.add_route(upload, "/<version:str>/<phone_number_id:str>/media", methods=["POST"])
    app.add_route(lookup, "/<version:str>/<media_id:str>", methods=["GET"])
    app.add_route(download, _DOWNLOAD_PATH, methods=["GET"])
    app.add_route(seed, "/_sim/media", methods=["POST"])
    app.add_route(release, "/_sim/media/<media_id:str>/release", methods=["POST"])
    app.add_route(set_faults, "/_sim/faults", methods=["POST"])
    app.add_route(reads, "/_sim/reads", methods=["GET"])


def reset(app: Sanic) -> None:
    """Forget media, reads and faults."""
    app.ctx.media = MediaState()


def mark_read(request: Request, body: dict[str, Any]) -> HTTPResponse:
    """Meta's `status: read` call on `/messages` (token and phone number already checked)."""
    state: MediaState = request.app.ctx.media
    refused = _refused(request, "read", token_checked=True)
    if refused:
        return refused
    problem = _read_problem(body)
    if problem:
        return json(error_body(100, "(#100) Invalid parameter", problem), status=400)
    if body["message_id"] not in state.inbound:  # Meta knows only the messages users sent
        details = "Invalid message_id: no message with this id was received"
        return json(error_body(100, "(#100) Invalid parameter", details), status=400)
    state.reads.append(body)
    return json({"success": True})


async def upload(request: Request, version: str, phone_number_id: str) -> HTTPResponse:
    """Meta's `POST /{version}/{phone_number_id}/media`."""
    state: MediaState = request.app.ctx.media
    if phone_number_id not in request.app.ctx.config.phone_number_ids:
        return _denied(request) or _unknown_object(request, phone_number_id)
    refused = _refused(request, "upload", number=phone_number_id)
    if refused:
        return refused
    form, file = request.form, request.files.get("file")
    mime_type = form.get("type") or ""
    if form.get("messaging_product") != "whatsapp":
        return _invalid("Param messaging_product must be 'whatsapp'")
    if file is None:
        return _invalid("Param file is required")
    problem = media_rules.problem(mime_type, len(file.body), file.body[: media_rules.HEAD_BYTES])
    if problem:
        details = f"Param {problem.field} {problem.message}"
        return json(error_body(131053, "(#131053) Media upload error", details), status=400)
    media_id, _ = state.add(file.body, mime_type)
    return json({"id": media_id})


async def lookup(request: Request, version: str, media_id: str) -> HTTPResponse:
    """Meta's `GET /{version}/{media_id}`: where to download the media."""
    state: MediaState = request.app.ctx.media
    refused = _refused(request, "lookup")
    if refused:
        return refused
    item = state.media.get(media_id)
    if item is None:
        return _unknown_object(request, media_id)
    base = f"{request.scheme}://{request.host}"
    return json(
        {
            "messaging_product": "whatsapp",
            "url": f"{base}{_DOWNLOAD_PATH}?mid={media_id}&ext={secrets.token_hex(4)}",
            "mime_type": item.mime_type,
            "sha256": item.sha256,
            "file_size": len(item.data),
            "id": media_id,
        }
    )


async def download(request: Request) -> HTTPResponse | None:
    """The file, in chunks, honouring `hold_at`; 401 without the token, 404 when unknown."""
    state: MediaState = request.app.ctx.media
    refused = _refused(request, "download")
    if refused:
        return refused
    item = state.media.get(request.args.get("mid", ""))
    if item is None:
        return json({"error": "not found"}, status=404)
    response = await request.respond(
        headers={"Content-Length": str(len(item.data))}, content_type=item.mime_type
    )
    view = memoryview(item.data)
    for start in range(0, len(view), _CHUNK_BYTES):
        if item.hold_at is not None and start >= item.hold_at:
            await item.released.wait()
        if item.break_at is not None and start >= item.break_at:
            request.transport.abort()  # the connection drops mid-file
            return None
        await response.send(bytes(view[start : start + _CHUNK_BYTES]))
    await response.eof()
    return None


async def seed(request: Request) -> HTTPResponse:
    """Store a media file as if a user had sent it; answers its id, sha256 and size."""
    body = loads(request.body)
    if not isinstance(body, dict) or not isinstance(body.get("mime_type"), str):
        return json({"error": "give {mime_type, size | content_b64[, hold_at]}"}, status=400)
    if isinstance(body.get("content_b64"), str):
        data = base64.b64decode(body["content_b64"])
    elif isinstance(body.get("size"), int) and 0 <= body["size"] <= MAX_STORED_BYTES:
        data = os.urandom(body["size"])
    else:
        return json({"error": "size must be an integer up to 1 GiB"}, status=400)
    options = {k: body[k] for k in ("hold_at", "break_at") if isinstance(body.get(k), int)}
    media_id, item = request.app.ctx.media.add(data, body["mime_type"], **options)
    return json({"id": media_id, "sha256": item.sha256, "file_size": len(data)})


async def release(request: Request, media_id: str) -> HTTPResponse:
    """Let a held download go on."""
    item = request.app.ctx.media.media.get(media_id)
    if item is None:
        return json({"error": "unknown media"}, status=404)
    item.released.set()
    return json({"released": media_id})


async def set_faults(request: Request) -> HTTPResponse:
    """Queue error answers for one operation, consumed one per call."""
    body = loads(request.body)
    operation = body.get("operation") if isinstance(body, dict) else None
    responses = body.get("responses") if isinstance(body, dict) else None
    if operation not in OPERATIONS or not isinstance(responses, list):
        return json({"error": f"give operation (one of {OPERATIONS}) and responses"}, status=400)
    if not all(isinstance(r, dict) and isinstance(r.get("status", 200), int) for r in responses):
        return json({"error": "each response must be an object with an integer status"}, 400)
    request.app.ctx.media.faults[operation].extend(responses)
    return json({"operation": operation, "queued": len(responses)})


async def reads(request: Request) -> HTTPResponse:
    """The mark-read calls accepted, oldest first."""
    return json({"reads": request.app.ctx.media.reads})


def _refused(
    request: Request, operation: str, token_checked: bool = False, number: str | None = None
) -> HTTPResponse | None:
    """Meta's 401 without the bearer token, else the next fault queued for `operation`."""
    denied = None if token_checked else _denied(request, number)
    fault = None if denied else request.app.ctx.media.fault(operation)
    return denied or (json(fault[1], status=fault[0]) if fault else None)


def _denied(request: Request, number: str | None = None) -> HTTPResponse | None:
    if request.app.ctx.config.authorized(request.headers.get("authorization", ""), number):
        return None
    answer = error_body(190, "Invalid OAuth access token - Cannot parse access token")
    return json(answer, status=401)


def _unknown_object(request: Request, object_id: str) -> HTTPResponse:
    method = request.method.lower()
    message = (
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, "
        "cannot be loaded due to missing permissions, or does not support this operation."
    )
    answer = error_body(100, message, type_="GraphMethodException", error_subcode=33)
    return json(answer, status=400)


def _invalid(details: str) -> HTTPResponse:
    return json(error_body(100, "(#100) Invalid parameter", details), status=400)


def _read_problem(body: dict[str, Any]) -> str | None:
    if body.get("messaging_product") != "whatsapp":
        return "Param messaging_product must be 'whatsapp'"
    if body.get("status") != "read":
        return "Param status must be 'read'"
    if not isinstance(body.get("message_id"), str) or not body["message_id"]:
        return "Param message_id is required"
    if "typing_indicator" in body and body["typing_indicator"] != {"type": "text"}:
        return "Param typing_indicator must be {'type': 'text'}"
    extra = set(body) - {"messaging_product", "status", "message_id", "typing_indicator"}
    return f"Unexpected params: {', '.join(sorted(extra))}" if extra else None
