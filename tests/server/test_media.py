"""`POST /api/v1/media/` and `GET /api/v1/media/{media_id}/` over real HTTP, against the Meta
simulator: Meta's type and size rules checked before the upload, files relayed both ways
without being held in the web process's memory, Meta's errors as 4xx/502 JSON."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from server.routes import media_files as media
from tests.conftest import Stack
from tests.server.test_reads import http, meta_fault
from tests.support.chunked import send_chunked
from tests.support.settings import NUMBER
from whatsapp.media_rules import KB, MB

__all__ = ["http"]  # the fixture, shared with test_read

pytestmark = pytest.mark.timeout(90)

# Relaying a 30 MB file raises the web process's peak memory by less than this (about 8 MB
# of buffers, the same for 90 MB); holding the file would add 30 MB.
_BOUNDED_KB = 16 * 1024
JPEG = b"\xff\xd8\xff\xe0" + b"j" * 1000
PDF = b"%PDF-1.7\n" + b"p" * 5000


def webp(size: int, animated: bool = False) -> bytes:
    """A WebP's RIFF header (VP8X with the animation flag when `animated`), padded to `size`."""
    flags = b"\x02" if animated else b"\x00"
    head = b"RIFF" + (size - 8).to_bytes(4, "little") + b"WEBPVP8X" + b"\x0a\0\0\0" + flags
    return head + b"\0" * (size - len(head))


async def upload(
    http: httpx.AsyncClient,
    stack: Stack,
    content: bytes | None,
    part_type: str = "image/jpeg",
    **fields: str,
) -> httpx.Response:
    files: dict[str, Any] = {k: (None, v) for k, v in fields.items()}
    if content is not None:
        files["file"] = ("upload.bin", content, part_type)
    return await http.post(
        f"{stack.api}/api/v1/media/", files=files, headers={"Api-Key": stack.api_key}
    )


async def download(http: httpx.AsyncClient, stack: Stack, media_id: str) -> httpx.Response:
    return await http.get(
        f"{stack.api}/api/v1/media/{media_id}/", headers={"Api-Key": stack.api_key}
    )


async def seed(http: httpx.AsyncClient, stack: Stack, **body: Any) -> dict[str, Any]:
    """An inbound media file on the simulator, as if a user had sent it."""
    r = await http.post(f"{stack.sim}/_sim/media", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def memory_kb(stack: Stack, key: str) -> int:
    """The web process's VmRSS (now) or VmHWM (peak since `reset_peak`), in KiB."""
    status = Path(f"/proc/{stack.procs['web'].pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith(key)))


def reset_peak(stack: Stack) -> int:
    """Restart the web process's peak-RSS count (Linux clear_refs 5); return its RSS now."""
    Path(f"/proc/{stack.procs['web'].pid}/clear_refs").write_text("5")
    return memory_kb(stack, "VmRSS")


# label, content, the part's Content-Type, form fields, status, field, MIME type Meta gets
UPLOADS = [
    ("jpeg by the part's type", JPEG, "image/jpeg", {}, 201, None, "image/jpeg"),
    ("pdf by the type field", PDF, "application/octet-stream", {"type": "application/pdf"},
     201, None, "application/pdf"),
    ("type field wins, parameters dropped", b"hello", "text/html",
     {"type": "text/plain; charset=utf-8", "messaging_product": "whatsapp"}, 201, None,
     "text/plain"),
    ("image at 5 MB", JPEG + b"j" * (5 * MB - len(JPEG)), "image/png", {}, 201, None, "image/png"),
    ("static sticker at 100 KB", webp(100 * KB), "image/webp", {}, 201, None, "image/webp"),
    ("animated sticker at 500 KB", webp(500 * KB, True), "image/webp", {}, 201, None,
     "image/webp"),
    ("image over 5 MB", b"j" * (5 * MB + 1), "image/jpeg", {}, 413, "file", None),
    ("static sticker over 100 KB", webp(100 * KB + 1), "image/webp", {}, 413, "file", None),
    ("animated sticker over 500 KB", webp(500 * KB + 1, True), "image/webp", {}, 413, "file",
     None),
    ("audio over 16 MB", b"a" * (16 * MB + 1), "application/octet-stream",
     {"type": "audio/ogg"}, 413, "file", None),
    ("gif is not a Meta type", b"GIF89a", "image/gif", {}, 400, "type", None),
    ("no type at all", PDF, "application/octet-stream", {}, 400, "type", None),
    ("sticker that is not WebP", JPEG, "image/webp", {}, 400, "file", None),
    ("empty file", b"", "image/jpeg", {}, 400, "file", None),
    ("no file", None, "", {"type": "image/jpeg"}, 400, "file", None),
    ("unknown field", JPEG, "image/jpeg", {"caption": "hi"}, 400, "caption", None),
    ("another product", JPEG, "image/jpeg", {"messaging_product": "sms"}, 400,
     "messaging_product", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "content", "part_type", "fields", "status", "field", "mime_type"),
    UPLOADS,
    ids=[u[0] for u in UPLOADS],
)
async def test_upload(http, stack, label, content, part_type, fields, status, field, mime_type):
    r = await upload(http, stack, content, part_type, **fields)
    assert r.status_code == status, r.text
    if status != 201:
        error = r.json()["error"]
        assert [f["field"] for f in error["fields"]] == [field]
        return
    body = r.json()
    assert body["id"].isdigit() and r.headers["Location"] == f"/api/v1/media/{body['id']}/"
    assert body["mime_type"] == mime_type and body["file_size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    back = await download(http, stack, body["id"])  # what Meta stored, through our download
    assert back.status_code == 200 and back.content == content
    assert back.headers["content-type"] == mime_type


_PART = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
# label, Content-Type, raw body, status, field
RAW_BODIES = [
    ("JSON, not multipart", "application/json", b'{"file": "x"}', 415, None),
    ("no boundary", "multipart/form-data", _PART, 415, None),
    ("not multipart inside", "multipart/form-data; boundary=b", b"garbage", 400, "body"),
    ("no closing boundary", "multipart/form-data; boundary=b",
     _PART + b"Content-Type: image/jpeg\r\n\r\n\xff\xd8", 400, "body"),
    ("a part without a name", "multipart/form-data; boundary=b",
     b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n", 400, "body"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "content_type", "body", "status", "field"), RAW_BODIES, ids=[b[0] for b in RAW_BODIES]
)
async def test_upload_body_must_be_multipart(http, stack, label, content_type, body, status, field):
    headers = {"Api-Key": stack.api_key, "Content-Type": content_type}
    r = await http.post(f"{stack.api}/api/v1/media/", content=body, headers=headers)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    if field:
        assert [f["field"] for f in error["fields"]] == [field]
    else:
        assert error["code"] == "unsupported_media_type"


async def test_upload_over_the_largest_limit_is_refused_before_reading(http, stack):
    # Only the headers are sent: the answer comes from Content-Length alone.
    host, port = stack.api.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /api/v1/media/ HTTP/1.1\r\nHost: x\r\nApi-Key: %s\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n"
        % (stack.api_key.encode(), 200 * MB)
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    await writer.wait_closed()
    assert head.startswith(b"HTTP/1.1 413")


async def test_a_chunked_upload_has_an_overall_limit(http, stack):
    """No Content-Length to refuse up front: a valid form, then 150 MB of junk after the
    closing boundary, sent chunked while the answer is read. The service answers 413 once
    past the largest file plus its envelope and closes the connection: far less than 150 MB
    went, and nothing was uploaded. (A client still sending when the connection closes may
    see it reset before it reads the 413: TCP drops what it had not read yet.)"""
    host, port = stack.api.removeprefix("http://").split(":")
    form = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + JPEG + b"\r\n--b--\r\n"
    )
    head = (
        b"POST /api/v1/media/ HTTP/1.1\r\nHost: x\r\nApi-Key: %s\r\nTransfer-Encoding: chunked"
        b"\r\nContent-Type: multipart/form-data; boundary=b\r\n\r\n" % stack.api_key.encode()
    )
    head, sent = await send_chunked(host, int(port), head, [form] + [b"j" * MB] * 150)
    assert head == b"" or head.startswith(b"HTTP/1.1 413"), head
    assert sent < 130 * MB  # refused near the limit, not after taking all 150 MB


async def test_concurrent_uploads_past_the_cap_get_429(http, stack):
    """MAX_CONCURRENT_UPLOADS (4) uploads hold their place while they stream; the fifth is
    refused at once with Retry-After, and a place freed is a place taken again."""
    release = asyncio.Event()

    async def slow_body():
        yield b'--b\r\nContent-Disposition: form-data; name="type"\r\n\r\nimage/jpeg'
        await release.wait()
        yield b"\r\n--b--\r\n"

    headers = {"Api-Key": stack.api_key, "Content-Type": "multipart/form-data; boundary=b"}
    url = f"{stack.api}/api/v1/media/"
    async with httpx.AsyncClient(timeout=30) as slow:
        holding = [asyncio.create_task(slow.post(url, content=slow_body(), headers=headers))]
        holding += [
            asyncio.create_task(slow.post(url, content=slow_body(), headers=headers))
            for _ in range(3)
        ]
        await asyncio.sleep(1)  # all four are streaming their bodies now
        refused = await http.post(
            url, files={"file": ("a.jpg", JPEG, "image/jpeg")}, headers={"Api-Key": stack.api_key}
        )
        release.set()
        held = await asyncio.gather(*holding)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "too_many_requests"
    assert refused.headers["retry-after"] == "5"
    assert [r.status_code for r in held] == [400] * 4  # they got their turn: no file given
    again = await upload(http, stack, JPEG)
    assert again.status_code == 201, again.text


@pytest.mark.parametrize(
    ("base_url", "schemes"),
    [
        ("https://graph.facebook.com", ("https://",)),
        ("http://127.0.0.1:8025", ("https://", "http://")),
    ],
)
def test_metas_token_follows_only_https_media_urls_unless_meta_is_local(base_url, schemes):
    settings = SimpleNamespace(whatsapp_api_base_url=base_url)
    assert media._download_schemes(settings) == schemes


# label, operation, Meta's answer, status, error code
META_UPLOAD_ERRORS = [
    ("Meta 500", {"status": 500}, 502, "meta_unavailable"),
    ("Meta refuses the file", {"status": 400, "code": 131053, "details": "bad"}, 422,
     "meta_rejected"),
    ("Meta refuses our token", {"status": 401}, 502, "meta_unavailable"),
    ("Meta does not know our number", {"status": 400, "code": 100, "error_subcode": 33}, 502,
     "meta_unavailable"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "fault", "status", "code"), META_UPLOAD_ERRORS, ids=[e[0] for e in META_UPLOAD_ERRORS]
)
async def test_upload_meta_errors(http, stack, label, fault, status, code):
    await meta_fault(http, stack, "upload", fault)
    r = await upload(http, stack, JPEG)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert stack.env["WHATSAPP_ACCESS_TOKEN"] not in r.text


# label, media id (None: a seeded one), faults, status, error code, field
DOWNLOADS = [
    ("seeded file", None, [], 200, None, None),
    ("unknown id", "1234567890123456", [], 404, "not_found", None),
    ("not an id", "abc", [], 400, "validation_error", "media_id"),
    ("lookup 500", None, [("lookup", {"status": 500})], 502, "meta_unavailable", None),
    ("lookup throttled", None, [("lookup", {"status": 429, "code": 4})], 429, "meta_throttled",
     None),
    ("lookup refuses our token", None, [("lookup", {"status": 401})], 502, "meta_unavailable",
     None),
    ("download expired", None, [("download", {"status": 404})], 404, "not_found", None),
    ("lookup: Meta does not know it", None,
     [("lookup", {"status": 400, "code": 100, "error_subcode": 33})], 404, "not_found", None),
    ("download 500", None, [("download", {"status": 503})], 502, "meta_unavailable", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "media_id", "faults", "status", "code", "field"),
    DOWNLOADS,
    ids=[d[0] for d in DOWNLOADS],
)
async def test_download(http, stack, label, media_id, faults, status, code, field):
    content = b"\x00\x01voice note" * 1000
    seeded = await seed(
        http, stack, mime_type="audio/ogg", content_b64=base64.b64encode(content).decode()
    )
    for operation, fault in faults:
        await meta_fault(http, stack, operation, fault)
    r = await download(http, stack, media_id or seeded["id"])
    assert r.status_code == status, r.text
    if status == 200:
        assert r.content == content
        assert r.headers["content-type"] == "audio/ogg"
        assert r.headers["content-length"] == str(len(content))
        assert r.headers["x-media-sha256"] == hashlib.sha256(content).hexdigest()
        # A file to save, never a page a browser would render as what it claims to be.
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-disposition"] == "attachment"
        return
    error = r.json()["error"]
    assert error["code"] == code
    if field:
        assert error["fields"][0]["field"] == field
    assert stack.env["WHATSAPP_ACCESS_TOKEN"] not in r.text


# label, query, status, the field named; refused as /templates/ and /contacts/ refuse them
DOWNLOAD_QUERIES = [
    ("unknown parameter", {"size": "1"}, 400, "size"),
    ("unknown next to a known one", {"phone_number_id": NUMBER, "sha": ""}, 400, "sha"),
    ("unknown number", {"phone_number_id": "999"}, 422, "phone_number_id"),
]


@pytest.mark.parametrize(
    ("label", "query", "status", "field"), DOWNLOAD_QUERIES, ids=[q[0] for q in DOWNLOAD_QUERIES]
)
async def test_download_refuses_query_parameters_it_does_not_take(
    http, stack, label, query, status, field
):
    seeded = await seed(http, stack, mime_type="audio/ogg", content_b64="AAE=")
    r = await http.get(
        f"{stack.api}/api/v1/media/{seeded['id']}/",
        params=query,
        headers={"Api-Key": stack.api_key},
    )
    assert r.status_code == status, r.text
    assert [f["field"] for f in r.json()["error"]["fields"]] == [field]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_media_needs_api_key(http, stack, method):
    r = await http.request(method, f"{stack.api}/api/v1/media/" + ("1/" if method == "GET" else ""))
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


async def test_large_download_streams_through(http, stack):
    """30 MB: the first 8 MB reach the Hub while Meta still holds the rest back."""
    seeded = await seed(http, stack, mime_type="video/mp4", size=30 * MB, hold_at=10 * MB)
    before = reset_peak(stack)
    digest, received, held = hashlib.sha256(), 0, False
    url = f"{stack.api}/api/v1/media/{seeded['id']}/"
    async with http.stream("GET", url, headers={"Api-Key": stack.api_key}) as r:
        assert r.status_code == 200
        assert r.headers["content-length"] == str(30 * MB)
        async for chunk in r.aiter_raw():
            digest.update(chunk)
            received += len(chunk)
            if not held and received >= 8 * MB:  # Meta holds the rest until released
                held = True
                await http.post(f"{stack.sim}/_sim/media/{seeded['id']}/release")
    assert received == 30 * MB and digest.hexdigest() == seeded["sha256"]
    assert memory_kb(stack, "VmHWM") - before < _BOUNDED_KB


async def test_large_upload_is_spooled_not_held(http, stack):
    content = b"%PDF" + b"d" * (30 * MB)
    before = reset_peak(stack)
    r = await upload(http, stack, content, "application/pdf")
    assert r.status_code == 201, r.text
    assert r.json()["sha256"] == hashlib.sha256(content).hexdigest()
    assert memory_kb(stack, "VmHWM") - before < _BOUNDED_KB


async def test_download_broken_off_by_meta_closes_short(http, stack):
    seeded = await seed(http, stack, mime_type="video/mp4", size=4 * MB, break_at=MB)
    log_start = len(stack.log("web"))
    url = f"{stack.api}/api/v1/media/{seeded['id']}/"
    received = 0
    with pytest.raises(httpx.RemoteProtocolError):
        async with http.stream("GET", url, headers={"Api-Key": stack.api_key}) as r:
            assert r.headers["content-length"] == str(4 * MB)
            async for chunk in r.aiter_raw():
                received += len(chunk)
    assert MB <= received < 4 * MB
    r = await download(http, stack, "1")  # the web process serves on
    assert r.status_code == 404
    log = stack.log("web")[log_start:]
    assert "media download broke off" in log and "Traceback" not in log
