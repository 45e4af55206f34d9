"""Meta's `pricing` object on a status webhook, read into what the service stores per message.

Under per-message pricing (PMP, since July 2025) Meta puts `pricing` on a message's `sent`,
`delivered` and `read` statuses: `billable`, `pricing_model` (`PMP`), `type` (`regular`,
`free_customer_service`, `free_entry_point`) and `category` (`marketing`, `utility`,
`authentication`, `authentication_international`, `service`, `marketing_lite`). Meta plans
to drop `billable` and says to read `type` instead: without a boolean `billable`, a message is
billable when its `type` is `regular`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_TEXT_MAX = 64


@dataclass(frozen=True, slots=True)
class Pricing:
    """One message's pricing, as its columns (`messages.pricing_*`) hold it."""

    billable: bool | None
    model: str | None
    type: str | None
    category: str | None

    @classmethod
    def from_meta(cls, pricing: Any) -> Pricing | None:
        """The pricing a status's `pricing` object says; None when it says nothing usable."""
        if not isinstance(pricing, dict):
            return None
        model, type_, category = (
            _text(pricing.get(k)) for k in ("pricing_model", "type", "category")
        )
        billable = _boolean(pricing.get("billable"))
        if billable is None and type_ is not None:
            billable = type_ == "regular"
        if billable is None and category is None and type_ is None:
            return None
        return cls(billable, model, type_, category)

    def as_dict(self) -> dict[str, Any]:
        """The status API's `pricing` field."""
        return {
            "billable": self.billable,
            "model": self.model,
            "type": self.type,
            "category": self.category,
        }


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:_TEXT_MAX]


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None
