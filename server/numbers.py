"""Which business number a request speaks for: the one it names, else the default
(`core.numbers` decides; this turns its refusal into an API error naming the field)."""

from __future__ import annotations

from core.numbers import FIELD, BusinessNumber, UnknownNumber
from core.settings import Settings
from server import api_errors
from server.openapi.operation import Param


def query_param(description: str) -> Param:
    """The optional `?phone_number_id=` of a route, for the OpenAPI document."""
    schema = {"type": "string", "pattern": "^[0-9]+$"}
    return Param(FIELD, "query", schema, required=False, description=description)


def business_number(
    settings: Settings, given: str | None, *, required: bool = False
) -> BusinessNumber:
    """The number `given` names (the default if None, unless `required` and several are
    configured); a 422 `unknown_phone_number` naming the field otherwise."""
    try:
        return settings.numbers.pick(given, required=required)
    except UnknownNumber as exc:
        raise api_errors.UnknownNumber([{"field": FIELD, "message": str(exc)}]) from None
