"""Marketing consent at the door: a MARKETING template to a contact who stopped marketing
messages from the business number is refused (422 `marketing_opted_out`) before anything is
stored, as Meta would fail it with 131050. Other categories and free-form messages go.

The preference is the latest Meta stated for any name of the contact (phone number, BSUID;
`db.marketing_preferences`); a contact Meta never reported is not stopped.
"""

from __future__ import annotations

import asyncpg

from db import marketing_preferences
from server.api_errors import MarketingOptedOut
from whatsapp.recipients import Recipient
from whatsapp.templates import MARKETING


async def require_marketing_consent(
    pool: asyncpg.Pool, number: str, addressee: Recipient, category: str | None
) -> None:
    """Raise `MarketingOptedOut` naming `to` (or `recipient`, for a send by BSUID alone) when a
    MARKETING template goes to a contact who stopped marketing from `number`."""
    if category != MARKETING:
        return
    names = [n for n in (addressee.phone, addressee.user_id) if n]
    preference = await marketing_preferences.get(pool, number, names)
    if preference is None or not preference.stopped:
        return
    field = "to" if addressee.phone is not None else "recipient"
    message = (
        f"stopped marketing messages from {number} at {preference.at.isoformat()} "
        f"(Meta would fail the send with 131050); utility and authentication templates and "
        f"free-form messages still go, and a marketing template goes once the user resumes"
    )
    raise MarketingOptedOut([{"field": field, "message": message}])
