"""Meta's rules for a template send (`type: template`): the name and language, the components,
the parameter types each component takes and the parameters each button `sub_type` takes.

Pure data (and one predicate) from Meta's Cloud API pages on sending templates, the coupon
code templates page and the call button page; the send API's models
(`server.payloads.template`) and the Meta simulator (`simulator.meta_checks`) are both built
from it. Patterns are anchored, for pydantic's search and Python's `fullmatch` alike.
"""

from __future__ import annotations

from typing import Any

NAME_MAX_CHARS = 512
NAME_PATTERN = rf"^[a-z0-9_]{{1,{NAME_MAX_CHARS}}}$"
# en, en_US, fil, prs_AF: the codes of Meta's supported languages page.
LANGUAGE_CODE_PATTERN = r"^[a-z]{2,3}(_[A-Z]{2})?$"
LANGUAGE_POLICIES = ("deterministic",)
COMPONENTS_MAX = 10

# The parameter types each component takes: a header at most one; a footer has no variables.
HEADER_PARAMETERS = ("text", "image", "video", "document", "location")
HEADER_PARAMETERS_MAX = 1
BODY_PARAMETERS = ("text", "currency", "date_time")
FOOTER_PARAMETERS_MAX = 0

# Parameter values.
TEXT_MAX_CHARS = 32768
HEADER_TEXT_MAX_CHARS = 60
COUPON_CODE_MAX_CHARS = 20  # Meta raised it from 15 (coupon code templates page, 2025)
CURRENCY_CODE_PATTERN = r"^[A-Z]{3}$"  # ISO 4217
TTL_MINUTES = (1, 43200)  # how long a call button stays active: a minute to 30 days

# The parameter types each button sub_type takes; a call button's two are both optional.
BUTTON_PARAMETERS: dict[str, tuple[str, ...]] = {
    "quick_reply": ("payload",),
    "url": ("text",),
    "copy_code": ("coupon_code",),
    "flow": ("action",),
    "catalog": ("action",),
    "mpm": ("action",),
    "order_details": ("action",),
    "voice_call": ("ttl_minutes", "payload"),
}
BUTTON_PARAMETER_TYPES = tuple(dict.fromkeys(t for ts in BUTTON_PARAMETERS.values() for t in ts))
BUTTON_INDEX_MAX = 9


def is_button_index(value: Any) -> bool:
    """A button's position, 0 to 9: a JSON integer, or (as Meta's examples write it) a string
    of one digit."""
    if isinstance(value, str):
        return len(value) == 1 and "0" <= value <= "9"
    return type(value) is int and 0 <= value <= BUTTON_INDEX_MAX
