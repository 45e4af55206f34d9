"""Which business number a request speaks for: the one it names, else the default."""

from __future__ import annotations

from core.settings import Settings
from server.api_errors import UnknownNumber
from server.openapi import Param

FIELD = "phone_number_id"


def query_param(description: str) -> Param:
    """The optional `?phone_number_id=` of a route, for the OpenAPI document."""
    schema = {"type": "string", "pattern": "^[0-9]+$"}
    return Param(FIELD, "query", schema, required=False, description=description)


def business_number(settings: Settings, given: str | None, *, required: bool = False) -> str:
    """`given` if it is one of WHATSAPP_PHONE_NUMBER_ID, the default number if it is None
    (unless `required` and several are configured); else an `UnknownNumber` naming the field."""
    numbers = settings.phone_number_ids
    if given is None:
        if required and len(numbers) > 1:
            message = f"is required: this service sends from {_list(numbers)}"
            raise UnknownNumber([{"field": FIELD, "message": message}])
        return numbers[0]
    if given not in numbers:
        message = f"is not a configured number ({given!r}); one of {_list(numbers)}"
        raise UnknownNumber([{"field": FIELD, "message": message}])
    return given


def _list(numbers: tuple[str, ...]) -> str:
    return ", ".join(numbers)


def bearer(settings: Settings, number: str) -> dict[str, str]:
    """The Authorization header of a Meta call for `number` (its own token, else the shared)."""
    return {"Authorization": f"Bearer {settings.token_for(number)}"}
