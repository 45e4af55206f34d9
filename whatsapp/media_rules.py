"""Meta's media rules: which MIME types each media kind accepts, and how large a file may be.

Pure data and checks, shared by the upload route (which refuses before Meta sees the file) and
the Meta simulator (which refuses like Meta). Sizes are decimal megabytes and kilobytes, the
stricter reading of Meta's "16 MB", so nothing accepted here is too large for Meta.
"""

from __future__ import annotations

from dataclasses import dataclass

MB = 1_000_000
KB = 1_000


@dataclass(frozen=True)
class Kind:
    name: str
    max_bytes: int


AUDIO = Kind("audio", 16 * MB)
DOCUMENT = Kind("document", 100 * MB)
IMAGE = Kind("image", 5 * MB)
VIDEO = Kind("video", 16 * MB)
STICKER = Kind("sticker", 500 * KB)  # animated; a static sticker is at most:
STATIC_STICKER_MAX_BYTES = 100 * KB

# Meta's supported media types (WhatsApp Cloud API, "Supported media types").
MIME_TYPES: dict[str, Kind] = {
    "audio/aac": AUDIO,
    "audio/amr": AUDIO,
    "audio/mpeg": AUDIO,
    "audio/mp4": AUDIO,
    "audio/ogg": AUDIO,  # OPUS codecs only
    "text/plain": DOCUMENT,
    "application/pdf": DOCUMENT,
    "application/vnd.ms-excel": DOCUMENT,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": DOCUMENT,
    "application/msword": DOCUMENT,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": DOCUMENT,
    "application/vnd.ms-powerpoint": DOCUMENT,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": DOCUMENT,
    "image/jpeg": IMAGE,
    "image/png": IMAGE,
    "image/webp": STICKER,
    "video/mp4": VIDEO,
    "video/3gp": VIDEO,
    "video/3gpp": VIDEO,
}
LARGEST_BYTES = max(kind.max_bytes for kind in MIME_TYPES.values())
# Bytes of a file's start `problem()` needs (a WebP's VP8X header with its animation flag).
HEAD_BYTES = 32


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    too_large: bool = False


def base_type(value: str | None) -> str:
    """`image/jpeg; charset=x` -> `image/jpeg`; empty when not given."""
    return (value or "").split(";")[0].strip().lower()


def max_bytes(mime_type: str) -> int:
    """The most a file of this type may hold; the largest of all for an unknown type."""
    kind = MIME_TYPES.get(base_type(mime_type))
    return kind.max_bytes if kind else LARGEST_BYTES


def problem(mime_type: str, size: int, head: bytes) -> Problem | None:
    """What Meta would refuse about a file of `size` bytes starting with `head`, or None."""
    kind = MIME_TYPES.get(base_type(mime_type))
    if kind is None:
        return Problem("type", f"must be one of Meta's media types: {', '.join(MIME_TYPES)}")
    if size == 0:
        return Problem("file", "must not be empty")
    limit = kind.max_bytes
    if kind is STICKER:
        if not _is_webp(head):
            return Problem("file", "is not a WebP image (stickers must be WebP)")
        if not _is_animated_webp(head):
            limit = STATIC_STICKER_MAX_BYTES
    if size > limit:
        label = "static sticker" if limit == STATIC_STICKER_MAX_BYTES else kind.name
        return Problem("file", f"is {size} bytes; a {label} may have at most {limit}", True)
    return None


def _is_webp(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def _is_animated_webp(head: bytes) -> bool:
    # Extended WebP: a "VP8X" chunk whose flags byte has the animation bit (0x02).
    return head[12:16] == b"VP8X" and len(head) > 20 and bool(head[20] & 0x02)
