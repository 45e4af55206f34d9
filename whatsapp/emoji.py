"""Meta's rule for a reaction: exactly one emoji, as a user sees one, or "" to remove it.

One extended grapheme cluster (Unicode's segmentation, so a ZWJ family, a flag or a skin
tone is one) that is an emoji: it holds a pictographic code point or a regional indicator,
or is a keycap (1️⃣). The `regex` package knows both the Unicode properties and the
segmentation; Python's `re` knows neither.
"""

from __future__ import annotations

import regex

_ONE_CLUSTER = regex.compile(r"\X")
_EMOJI = regex.compile(
    r"\p{Extended_Pictographic}|\p{Regional_Indicator}"
    r"|^[0-9#*]\N{VARIATION SELECTOR-16}?\N{COMBINING ENCLOSING KEYCAP}$"
)


def is_one_emoji(text: str) -> bool:
    """Whether `text` is exactly one emoji."""
    return bool(_ONE_CLUSTER.fullmatch(text) and _EMOJI.search(text))


def is_reaction(text: str) -> bool:
    """A reaction's `emoji`: one emoji, or "" (which removes the reaction)."""
    return text == "" or is_one_emoji(text)
