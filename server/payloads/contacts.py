"""`type: contacts`: contact cards (vCards), with Meta's field names; `name.formatted_name` is
the one field Meta requires, plus at least one other part of the name."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from server.payloads.base import NonEmpty, StrictModel
from server.payloads.field_errors import error_at, patterned

_NAME_PARTS = ("first_name", "last_name", "middle_name", "suffix", "prefix")


class Name(StrictModel):
    formatted_name: NonEmpty
    first_name: NonEmpty | None = None
    last_name: NonEmpty | None = None
    middle_name: NonEmpty | None = None
    suffix: NonEmpty | None = None
    prefix: NonEmpty | None = None

    @model_validator(mode="after")
    def _another_part(self) -> Name:
        if all(getattr(self, part) is None for part in _NAME_PARTS):
            raise error_at((), "name_part", "must have one of " + ", ".join(_NAME_PARTS) + " too")
        return self


class Address(StrictModel):
    street: NonEmpty | None = None
    city: NonEmpty | None = None
    state: NonEmpty | None = None
    zip: NonEmpty | None = None
    country: NonEmpty | None = None
    country_code: NonEmpty | None = None
    type: NonEmpty | None = None  # HOME, WORK...


class Email(StrictModel):
    email: Annotated[str, patterned(r"^[^@\s]+@[^@\s]+$", "must be an email address")]
    type: NonEmpty | None = None


class Org(StrictModel):
    company: NonEmpty | None = None
    department: NonEmpty | None = None
    title: NonEmpty | None = None


class Phone(StrictModel):
    phone: NonEmpty
    # The contact's WhatsApp id puts a "Message" button on the card.
    wa_id: Annotated[str, patterned(r"^[0-9]{5,20}$", "must be digits only")] | None = None
    type: NonEmpty | None = None  # CELL, MAIN, IPHONE, HOME, WORK


class Url(StrictModel):
    url: NonEmpty
    type: NonEmpty | None = None


class Contact(StrictModel):
    """One contact card."""

    name: Name
    addresses: list[Address] | None = None
    birthday: (
        Annotated[str, patterned(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "must be a date YYYY-MM-DD")]
        | None
    ) = None
    emails: list[Email] | None = None
    org: Org | None = None
    phones: list[Phone] | None = None
    urls: list[Url] | None = None


Contacts = Annotated[list[Contact], Field(min_length=1)]
