"""Request bodies read against a cap, and refused ones left unread.

`read_body()` is how a route that takes a body (`ignore_body=True`, so the caller is judged
first) reads it: chunk by chunk, and never past the route's cap. Sanic's per-request limit
(`request.stream.request_max_size`, the one it lifts for streaming routes; REQUEST_MAX_SIZE
by default) is set to the cap first, so Sanic itself stops the read with a 413 as the body
streams: a declared Content-Length over the cap before any of it is read, a chunked body at
the first chunk size line that passes it. Media uploads stream through `form_stream`, which
keeps its own count.

`close_if_unread()` is the other half, for a refusal given before the body was read.
"""

from __future__ import annotations

from sanic import Request
from sanic.exceptions import PayloadTooLarge as SanicPayloadTooLarge

from server.api_errors import PayloadTooLarge

# A body this small is read and discarded as usual: closing on a client still sending would
# reset the connection before it reads the answer.
_DRAIN_AT_MOST = 64 * 1024


async def read_body(request: Request, cap: int) -> bytes:
    """The request's body, or a 413 naming `cap` as soon as the body is known to pass it."""
    stream = request.stream
    if stream is not None:
        stream.request_max_size = cap
    try:
        await request.receive_body()
    except SanicPayloadTooLarge:
        if stream is not None:  # what is left is drained only if small, else the line closes
            stream.request_max_size = max(cap, _DRAIN_AT_MOST)
        raise PayloadTooLarge(f"request body exceeds {cap} bytes") from None
    return request.body


def close_if_unread(request: Request) -> None:
    """A refusal given before any of a large (or chunked) body was read closes the
    connection, rather than let Sanic read and discard a body nobody asked for (up to
    REQUEST_MAX_SIZE from anyone); the rest of the body is never parsed as a request. A body
    already being read (a file refused mid-upload), or a small one, is drained as usual, so
    the client, still sending, reads its answer instead of a reset connection."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) <= _DRAIN_AT_MOST:
        return
    http = request.stream
    untouched = getattr(http, "request_bytes_left", 0) == getattr(http, "request_bytes", 0)
    if http is not None and getattr(http, "request_body", None) and untouched:
        http.request_body = None  # Sanic's HTTP/1 "body still to come"
        http.keep_alive = False
