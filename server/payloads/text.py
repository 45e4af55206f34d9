"""`type: text`: a plain message, optionally with a link preview."""

from __future__ import annotations

from server.payloads.base import StrictModel, bounded_text
from whatsapp.message_rules import TEXT_BODY_MAX_CHARS

_Body = bounded_text(TEXT_BODY_MAX_CHARS)


class Text(StrictModel):
    """Meta's `text` object."""

    body: _Body
    preview_url: bool | None = None
