"""Marketing consent at the door: a MARKETING template to a contact who stopped marketing
messages from the business number is refused (422 `marketing_opted_out`) before anything is
stored, as Meta would fail it with 131050. Other categories and free-form messages go.

A contact's preference is the latest Meta stated under any of their identifiers: the ones the
send names and the ones linked to the same person (`db.contacts`), so a stop Meta reported by
BSUID also holds for a send by phone number, and one reported under the other way of writing
a number (`whatsapp.recipients.phone_variants`: Brazil's ninth digit...) for a send to this
one. A contact Meta never reported has not stopped.
"""

from __future__ import annotations

import asyncpg

from db import contacts, marketing_preferences
from db.marketing_preferences import Preference
from server.api_errors import MarketingOptedOut
from whatsapp.recipients import Recipient, is_user_id, phone_variants
from whatsapp.templates import MARKETING


async def require_marketing_consent(
    pool: asyncpg.Pool, number: str, addressee: Recipient, category: str | None
) -> None:
    """Raise `MarketingOptedOut` naming `to` (or `recipient`, for a send by BSUID alone) when a
    MARKETING template goes to a contact who stopped marketing from `number`."""
    if category != MARKETING:
        return
    found = await preference(pool, number, addressee.phone, addressee.user_id)
    if found is None or not found.stopped:
        return
    field = "to" if addressee.phone is not None else "recipient"
    message = (
        f"stopped marketing messages from {number} at {found.at.isoformat()} "
        f"(Meta would fail the send with 131050); utility and authentication templates and "
        f"free-form messages still go, and a marketing template goes once the user resumes"
    )
    raise MarketingOptedOut([{"field": field, "message": message}])


async def preference(pool: asyncpg.Pool, number: str, *names: str | None) -> Preference | None:
    """The latest marketing preference of the person `names` identify on `number`."""
    known = {v for n in names if n for v in (phone_variants(n) if not is_user_id(n) else {n})}
    for name in sorted(known):  # the phone number first: a person is linked by it most often
        person = await contacts.get(pool, number, name)
        if person is not None:
            known |= person.identifiers()
            break
    return await marketing_preferences.get(pool, number, sorted(known))
