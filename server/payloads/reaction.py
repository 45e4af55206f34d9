"""`type: reaction`: an emoji on one of the conversation's messages; an empty emoji removes it."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from server.payloads.base import NonEmpty, StrictModel

# The longest emoji are ZWJ sequences (a family, a flag of a region): about 10 code points.
EMOJI_MAX_CODE_POINTS = 16


def _one_emoji_or_empty(emoji: str) -> str:
    # Not a full emoji grammar: enough to catch words, sentences and several emoji at once.
    if emoji == "":
        return emoji
    if (
        len(emoji) > EMOJI_MAX_CODE_POINTS
        or any(c.isspace() for c in emoji)
        or all(ord(c) < 0x80 for c in emoji)
    ):
        raise PydanticCustomError(
            "emoji", "must be one emoji, or an empty string to remove the reaction"
        )
    return emoji


class Reaction(StrictModel):
    """Meta's `reaction` object."""

    message_id: NonEmpty
    emoji: Annotated[str, AfterValidator(_one_emoji_or_empty)]
