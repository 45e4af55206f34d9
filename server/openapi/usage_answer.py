"""What `GET /api/v1/usage/` answers (`server.routes.usage`), as pydantic models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class UsageCounts(BaseModel):
    """Priced messages of one group (or of all: `totals`)."""

    model_config = ConfigDict(extra="forbid")

    messages: int = Field(description="priced messages (billable, free, or Meta did not say)")
    billable: int
    free: int
    estimated_cost: float | None = Field(
        None, description="billable messages x the rate card's prices; absent without a card"
    )
    unrated: int | None = Field(
        None, description="billable messages the rate card has no price for (not in the cost)"
    )


class Usage(BaseModel):
    """Priced messages accepted (`created_at`) in [from, to), by category, number and caller.
    The cost is an estimate from USAGE_RATE_CARD_PATH; Meta's invoice is the truth."""

    model_config = ConfigDict(extra="forbid")

    from_: datetime = Field(alias="from", description="the period's start (inclusive)")
    to: datetime = Field(description="the period's end (exclusive)")
    phone_number_id: str | None = Field(description="the filter, if given")
    caller: str | None = Field(description="the filter, if given")
    currency: str | None = Field(description="the rate card's; null without a card")
    totals: UsageCounts
    by_category: dict[str, UsageCounts] = Field(
        description="by Meta's pricing category (`unknown` when Meta gave none)"
    )
    by_phone_number: dict[str, UsageCounts] = Field(description="by business number")
    by_caller: dict[str, UsageCounts] = Field(description="by the API key's name")
