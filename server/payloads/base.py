"""What every send request has, whatever its type: recipient, reply context, the Hub's metadata,
a validity period.

The recipient is `to` (a phone number), `recipient` (a business-scoped user id, BSUID, or a
parent BSUID) or both, as in Meta's /messages body: Meta sends to `to` when both are given.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from operator import or_
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model
from pydantic_core import PydanticCustomError

from server.payloads.field_errors import error_at, patterned
from whatsapp.recipients import (
    PHONE_PATTERN,
    PHONE_RULE,
    USER_ID_PATTERN,
    USER_ID_RULE,
    Recipient,
    parse_phone,
)

METADATA_MAX_BYTES = 4096
_M = TypeVar("_M", bound=BaseModel)


class StrictModel(BaseModel):
    """No coercion ("1" stays a string) and no unknown keys, so typos fail loudly."""

    model_config = ConfigDict(strict=True, extra="forbid")


def _small_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    try:
        size = len(orjson.dumps(metadata))
    except orjson.JSONEncodeError:
        return metadata  # a huge integer: `unstorable_fields` names it precisely
    if size > METADATA_MAX_BYTES:
        raise PydanticCustomError(
            "metadata_too_large",
            "must be at most {limit} bytes as compact JSON (is {size})",
            {"limit": METADATA_MAX_BYTES, "size": size},
        )
    return metadata


def not_blank(text: str) -> str:
    """Whitespace alone would render as an empty bubble; Meta refuses it."""
    if not text.strip():
        raise PydanticCustomError("blank", "must not be only whitespace")
    return text


def bounded_text(max_chars: int) -> Any:
    """A required, non-blank string of at most `max_chars` characters (Meta counts characters)."""
    return Annotated[str, Field(min_length=1, max_length=max_chars), AfterValidator(not_blank)]


NonEmpty = Annotated[str, Field(min_length=1)]
PhoneNumber = Annotated[str, patterned(PHONE_PATTERN, PHONE_RULE), AfterValidator(parse_phone)]
UserId = Annotated[str, patterned(USER_ID_PATTERN, USER_ID_RULE)]
NO_RECIPIENT = [
    {"field": "to", "message": "is required unless recipient is given (a phone number)"},
    {"field": "recipient", "message": "is required unless to is given (a business-scoped user id)"},
]
Metadata = Annotated[dict[str, Any], AfterValidator(_small_metadata)]
VALIDITY_MAX_S = 30 * 86400  # a month: longer is a message that no longer matters
ValidityPeriod = Annotated[int, Field(ge=1, le=VALIDITY_MAX_S)]
BusinessNumber = Annotated[str, patterned(r"^[0-9]{1,20}$", "must be a phone number id: digits")]


class Context(StrictModel):
    """The message this one replies to; WhatsApp shows it quoted."""

    message_id: NonEmpty


class SendRequest(StrictModel):
    """A validated `POST /api/v1/messages/send/` body; one subclass per message type."""

    to: PhoneNumber | None = Field(
        None, description="the user's phone number (E.164, `+` optional); Meta sends to it first"
    )
    recipient: UserId | None = Field(
        None,
        description="the user's business-scoped user id (BSUID) or parent BSUID, instead of or"
        " beside `to`; one of the two is required",
    )
    type: str
    recipient_type: Literal["individual"] | None = None
    messaging_product: Literal["whatsapp"] | None = None
    context: Context | None = None
    metadata: Metadata | None = None
    # Seconds from acceptance: not written to Meta by then, the message fails `expired`.
    validity_period_s: ValidityPeriod | None = None
    # The business number it goes from (one of WHATSAPP_PHONE_NUMBER_ID); None: the default.
    phone_number_id: BusinessNumber | None = None

    @property
    def addressee(self) -> Recipient:
        """Who it goes to (`parse_send_request` made sure there is `to` or `recipient`)."""
        return Recipient(self.to, self.recipient)

    def meta_payload(self, message_id: str) -> dict[str, Any]:
        """The body for Meta's `/messages`; `metadata` stays with us, for the Hub's events."""
        content = self.model_dump(mode="json", include={self.type}, exclude_none=True)
        payload: dict[str, Any] = {
            "messaging_product": "whatsapp",
            **self.addressee.meta_fields(),
            "type": self.type,
            self.type: content[self.type],
        }
        if self.context is not None:
            payload["context"] = self.context.model_dump(mode="json")
        payload["biz_opaque_callback_data"] = message_id
        return payload


def keyed_by_type(base: type[_M], type_name: str, value: Any, prefix: str = "") -> type[_M]:
    """One union member: `type` fixed to `type_name`, whose object sits under the same key."""
    # Meta's shape throughout: {"type": "text", "text": {...}}, {"type": "payload", "payload": "X"}.
    fields: dict[str, Any] = {"type": (Literal[type_name], ...), type_name: (value, ...)}
    name = prefix + "".join(part.title() for part in type_name.split("_"))
    name += base.__name__.lstrip("_")
    return create_model(name, __base__=base, __module__=base.__module__, **fields)


def exactly_one(model: BaseModel, first: str, second: str) -> None:
    """Meta's "either X or Y" fields: one of them, never both."""
    if getattr(model, first) is not None and getattr(model, second) is not None:
        raise error_at((second,), "exclusive", f"must not be given with {first} (use one of them)")
    if getattr(model, first) is None and getattr(model, second) is None:
        raise error_at((), "one_of", f"must have {first} or {second}")


def unique(values: Iterable[tuple[tuple[int | str, ...], str]], what: str) -> None:
    """Ids (and titles) the user picks from must differ, or Meta cannot tell which was picked."""
    seen: set[str] = set()
    for at, value in values:
        if value in seen:
            raise error_at(at, "duplicate", f"must be unique: another {what} is {value!r}")
        seen.add(value)


def keyed_members(base: type[_M], values: dict[str, Any]) -> dict[str, type[_M]]:
    """One `keyed_by_type` member per type name: `{"image": ImageHeader, ...}`."""
    return {name: keyed_by_type(base, name, value) for name, value in values.items()}


def tagged_union(*members: Any) -> Any:
    """The members as one union that pydantic picks from by their `type`."""
    return Annotated[reduce(or_, members), Field(discriminator="type")]
