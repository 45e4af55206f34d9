"""`type: contacts`: contact cards (vCards), with Meta's field names; `name.formatted_name` is
the one field Meta requires, plus at least one other part of the name."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, create_model, model_validator

from server.payloads.base import NonEmpty, StrictModel
from server.payloads.field_errors import error_at, patterned
from whatsapp.message_rules import (
    ADDRESS_KEYS,
    BIRTHDAY_PATTERN,
    EMAIL_PATTERN,
    NAME_PARTS,
    ORG_KEYS,
    WA_ID_PATTERN,
)


def _optional_texts(name: str, base: type[StrictModel], keys: tuple[str, ...]) -> Any:
    """A model with one optional non-empty string per key of Meta's object."""
    fields: dict[str, Any] = dict.fromkeys(keys, (NonEmpty | None, None))
    return create_model(name, __base__=base, __module__=__name__, **fields)


class _Name(StrictModel):
    formatted_name: NonEmpty

    @model_validator(mode="after")
    def _another_part(self) -> _Name:
        if all(getattr(self, part) is None for part in NAME_PARTS):
            raise error_at((), "name_part", "must have one of " + ", ".join(NAME_PARTS) + " too")
        return self


Name = _optional_texts("Name", _Name, NAME_PARTS)
Address = _optional_texts("Address", StrictModel, ADDRESS_KEYS)
Org = _optional_texts("Org", StrictModel, ORG_KEYS)


class Email(StrictModel):
    email: Annotated[str, patterned(EMAIL_PATTERN, "must be an email address")]
    type: NonEmpty | None = None


class Phone(StrictModel):
    phone: NonEmpty
    # The contact's WhatsApp id puts a "Message" button on the card.
    wa_id: Annotated[str, patterned(WA_ID_PATTERN, "must be 5 to 20 digits")] | None = None
    type: NonEmpty | None = None  # CELL, MAIN, IPHONE, HOME, WORK


class Url(StrictModel):
    url: NonEmpty
    type: NonEmpty | None = None


class Contact(StrictModel):
    """One contact card."""

    name: Name
    addresses: list[Address] | None = None
    birthday: Annotated[str, patterned(BIRTHDAY_PATTERN, "must be a date YYYY-MM-DD")] | None = None
    emails: list[Email] | None = None
    org: Org | None = None
    phones: list[Phone] | None = None
    urls: list[Url] | None = None


Contacts = Annotated[list[Contact], Field(min_length=1)]
