"""`type: reaction`: an emoji on one of the conversation's messages; an empty emoji removes it.

"One emoji" is Meta's rule, `whatsapp.emoji`: one grapheme cluster that is an emoji.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from server.payloads.base import NonEmpty, StrictModel
from whatsapp.emoji import is_reaction


def _one_emoji_or_empty(emoji: str) -> str:
    if is_reaction(emoji):
        return emoji
    raise PydanticCustomError(
        "emoji", "must be exactly one emoji, or an empty string to remove the reaction"
    )


class Reaction(StrictModel):
    """Meta's `reaction` object."""

    message_id: NonEmpty
    emoji: Annotated[str, AfterValidator(_one_emoji_or_empty)]
