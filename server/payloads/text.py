"""`type: text`: a plain message, optionally with a link preview."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from server.payloads.base import StrictModel, not_blank

TEXT_MAX_CHARS = 4096


class Text(StrictModel):
    """Meta's `text` object."""

    body: Annotated[str, Field(min_length=1, max_length=TEXT_MAX_CHARS), AfterValidator(not_blank)]
    preview_url: bool | None = None
