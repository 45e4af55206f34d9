"""`image`, `video`, `audio`, `document`, `sticker`: a media file by Meta media `id` or by `link`.

Exactly one of `id` (uploaded to Meta) or `link` (Meta downloads it; https only, since Meta
fetches it from the public internet and we never send a file over plain http). Meta shows a
`caption` under images, videos and documents only; audio and stickers refuse one.
The same references (without caption) fill template and interactive media headers.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import model_validator

from server.payloads.base import NonEmpty, StrictModel, bounded_text, exactly_one
from server.payloads.field_errors import patterned
from whatsapp.message_rules import CAPTION_MAX_CHARS, MEDIA_LINK_PATTERN

HttpsUrl = Annotated[str, patterned(MEDIA_LINK_PATTERN, "must be an https:// URL")]


class MediaRef(StrictModel):
    """A media file by `id` xor `link`."""

    id: NonEmpty | None = None
    link: HttpsUrl | None = None

    @model_validator(mode="after")
    def _id_xor_link(self) -> MediaRef:
        exactly_one(self, "id", "link")
        return self


class DocumentRef(MediaRef):
    """A document header keeps its file name, which WhatsApp shows and uses on download."""

    filename: NonEmpty | None = None


Caption = bounded_text(CAPTION_MAX_CHARS)


class Image(MediaRef):
    """Meta's `image` object."""

    caption: Caption | None = None


class Video(MediaRef):
    """Meta's `video` object."""

    caption: Caption | None = None


class Document(DocumentRef):
    """Meta's `document` object."""

    caption: Caption | None = None


class Audio(MediaRef):
    """Meta's `audio` object; `voice: true` sends an OGG/OPUS file as a voice note."""

    voice: bool | None = None


class Sticker(MediaRef):
    """Meta's `sticker` object (WebP); no caption."""
