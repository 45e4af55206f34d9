"""The Hub's media routes, so it never needs Meta's token: upload a file, download one.

- `POST /api/v1/media/`: a multipart upload, spooled to disk while it arrives, checked against
  Meta's rules (`whatsapp.media_rules`), then uploaded to Meta; answers Meta's media id.
- `GET /api/v1/media/{media_id}/`: looks the media up on Meta, then relays the download chunk
  by chunk (Meta -> Hub), so a 100 MB document never sits in memory.
"""

from __future__ import annotations

import logging
import re
import tempfile
from typing import Any

import httpx
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from core.settings import Settings
from server import meta_answers
from server.api_errors import (
    NotFound,
    TooManyRequests,
    UnknownNumber,
    UnsupportedMediaType,
    ValidationError,
    unknown_parameters,
)
from server.auth import require_api_key
from server.middleware.form_stream import FieldTooLarge, Form, UploadedFile, boundary_of, read_form
from server.openapi.answers import MediaUpload, MediaUploaded
from server.openapi.operation import API_KEY, Body, Param, Reply, number_param, operation
from server.web_context import WebContext, web
from whatsapp import media_rules

logger = logging.getLogger("server.media")

bp = Blueprint("media", url_prefix="/api/v1/media")

_FILE = "file"
_FORM_FIELDS = frozenset({_FILE, "type", "messaging_product", "phone_number_id"})
# Room for the multipart envelope around the largest file: boundaries, part headers, `type`.
_ENVELOPE_BYTES = 64 * 1024
_MAX_BODY_BYTES = media_rules.LARGEST_BYTES + _ENVELOPE_BYTES
_MEDIA_ID = re.compile(r"^[0-9]{1,32}$")
_OCTET_STREAM = "application/octet-stream"


@bp.post("/", stream=True)
@operation(
    "Upload a media file",
    tag="media",
    body=Body(MediaUpload, "MediaUpload", media="multipart/form-data"),
    responses={
        201: Reply(MediaUploaded, "uploaded to Meta", headers=(Param("Location", "header"),))
    },
    errors=(
        ValidationError,
        UnknownNumber,
        FieldTooLarge,
        UnsupportedMediaType,
        TooManyRequests,
        *meta_answers.CALL_ERRORS,
    ),
    auth=API_KEY,
)
async def upload(request: Request) -> HTTPResponse:
    """Check the file against Meta's limits for its type, upload it to Meta, answer the id."""
    require_api_key(request)
    boundary = boundary_of(request.headers.get("content-type"))
    _check_length(request.headers.get("content-length"))
    ctx = web(request)
    if ctx.uploads.locked():
        raise TooManyRequests(
            f"{ctx.settings.max_concurrent_uploads} uploads are under way; retry in a few seconds",
            headers={"Retry-After": "5"},
        )
    async with ctx.uploads:
        return await _upload(request, ctx, boundary)


async def _upload(request: Request, ctx: WebContext, boundary: bytes) -> HTTPResponse:
    client = ctx.meta
    with tempfile.TemporaryFile() as spool:
        form = await read_form(
            request,
            boundary,
            spool,
            file_field=_FILE,
            allowed=_FORM_FIELDS,
            head_bytes=media_rules.HEAD_BYTES,
            limit=_limit,
            max_body_bytes=_MAX_BODY_BYTES,
        )
        file, mime_type = _checked(form)
        number = ctx.number(form.fields.get("phone_number_id") or None)
        spool.seek(0)
        response = await meta_answers.call(
            client,
            client.build_request(
                "POST",
                number.url("media"),
                headers=number.bearer,
                data={"messaging_product": "whatsapp", "type": mime_type},
                files={_FILE: (file.filename or "file", spool, mime_type)},
            ),
        )
    media_id = meta_answers.json_body(response).get("id")
    if not isinstance(media_id, str) or not _MEDIA_ID.match(media_id):
        raise meta_answers.MetaUnavailableError("Meta answered the upload without a media id")
    body = {
        "id": media_id,
        "mime_type": mime_type,
        "file_size": file.size,
        "sha256": file.digest.hexdigest(),
        "filename": file.filename or None,
    }
    return json(body, status=201, headers={"Location": f"/api/v1/media/{media_id}/"})


@bp.get("/<media_id:str>/")
@operation(
    "Download a media file",
    tag="media",
    params=(
        Param("media_id", "path", {"type": "string", "pattern": _MEDIA_ID.pattern}),
        number_param("the business number the media belongs to (default: the default one)"),
    ),
    responses={
        200: Reply(
            description="the file, relayed as Meta sends it",
            media="*/*",
            headers=(Param("X-Media-Sha256", "header", required=False),),
        )
    },
    errors=(ValidationError, UnknownNumber, NotFound, *meta_answers.CALL_ERRORS),
    auth=API_KEY,
)
async def download(request: Request, media_id: str) -> HTTPResponse | None:
    """Look the media's URL up with Meta's token, then stream the file through to the Hub."""
    require_api_key(request)
    if not _MEDIA_ID.match(media_id):
        raise ValidationError([{"field": "media_id", "message": "must be Meta's numeric media id"}])
    args = request.get_args(keep_blank_values=True)
    if unknown := unknown_parameters(args, {"phone_number_id"}):
        raise ValidationError(unknown)
    ctx = web(request)
    settings, client = ctx.settings, ctx.meta
    number = ctx.number(args.get("phone_number_id"))
    auth = number.bearer
    missing = f"no media with id {media_id}: Meta does not know it, or it has expired"
    lookup = await meta_answers.call(
        client,
        client.build_request(
            "GET", settings.graph_url(media_id), params=_owner(number.id), headers=auth
        ),
        not_found=missing,
    )
    info = meta_answers.json_body(lookup)
    url = info.get("url")
    if not isinstance(url, str) or not url.startswith(_download_schemes(settings)):
        raise meta_answers.MetaUnavailableError("Meta's media lookup has no https download URL")
    # identity: the bytes are relayed as they come, so they must be the file's own.
    upstream = await meta_answers.call(
        client,
        client.build_request("GET", url, headers={**auth, "Accept-Encoding": "identity"}),
        not_found=missing,
        stream=True,
    )
    try:
        await _relay(request, upstream, info, media_id)
    finally:
        await upstream.aclose()
    return None


async def _relay(
    request: Request, upstream: httpx.Response, info: dict[str, Any], media_id: str
) -> None:
    # Never rendered by a browser as what it claims to be: a file to save, as it came.
    headers = {"X-Content-Type-Options": "nosniff", "Content-Disposition": "attachment"}
    if upstream.headers.get("content-length", "").isdigit():
        headers["Content-Length"] = upstream.headers["content-length"]
    if isinstance(info.get("sha256"), str):
        headers["X-Media-Sha256"] = info["sha256"]
    mime_type = info.get("mime_type") or upstream.headers.get("content-type") or _OCTET_STREAM
    response = await request.respond(headers=headers, content_type=str(mime_type))
    try:
        async for chunk in upstream.aiter_raw():
            await response.send(chunk)
    except httpx.HTTPError as exc:
        # Headers are out: the Hub can only see the connection drop short of Content-Length.
        error = type(exc).__name__
        logger.warning("media download broke off media_id=%s error=%s", media_id, error)
        _drop_connection(request)
        return
    await response.eof()


def _drop_connection(request: Request) -> None:
    """Close the connection mid-body, and tell Sanic the response is over so it does not try
    to end it (which would log "Response was smaller than content-length" with a traceback)."""
    request.transport.abort()
    if request.stream is not None:
        request.stream.response_func = None  # Http1's "no more sends"


def _download_schemes(settings: Settings) -> tuple[str, ...]:
    """Meta's token goes to https URLs only; plain http only when Meta itself is reached over
    http (the simulator, in development and tests)."""
    local = settings.whatsapp_api_base_url.startswith("http://")
    return ("https://", "http://") if local else ("https://",)


def _owner(number: str) -> dict[str, str]:
    # Meta answers a media id only to the phone number it belongs to.
    return {"phone_number_id": number}


def _check_length(header: str | None) -> None:
    if header and header.isdigit() and int(header) > _MAX_BODY_BYTES:
        raise FieldTooLarge(
            [{"field": _FILE, "message": f"must be at most {media_rules.LARGEST_BYTES} bytes"}]
        )


def _limit(form: Form, file: UploadedFile) -> int:
    """The most bytes the file may have, by the type declared so far (else the largest)."""
    return media_rules.max_bytes(form.fields.get("type") or file.content_type)


def _checked(form: Form) -> tuple[UploadedFile, str]:
    """The file and its MIME type, once Meta's rules allow them."""
    file = form.file
    if file is None:
        raise ValidationError([{"field": _FILE, "message": "is required"}])
    if form.fields.get("messaging_product", "whatsapp") != "whatsapp":
        raise ValidationError([{"field": "messaging_product", "message": "must be whatsapp"}])
    declared = media_rules.base_type(form.fields.get("type"))
    part_type = media_rules.base_type(file.content_type)
    mime_type = declared or (part_type if part_type != _OCTET_STREAM else "")
    if not mime_type:
        raise ValidationError(
            [{"field": "type", "message": "is required: the file's MIME type, like image/jpeg"}]
        )
    found = media_rules.problem(mime_type, file.size, file.head)
    if found:
        error = FieldTooLarge if found.too_large else ValidationError
        raise error([{"field": found.field, "message": found.message}])
    return file, mime_type
