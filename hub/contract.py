"""The Hub event contract: every event type and its payload model.

The web publishes the models as the OpenAPI document's `webhooks` (`server.openapi.document`),
and docs/events.md describes them (tests/hub checks it names every field of every model, and
that each builder's output in `hub.events` validates against its model).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from core.names import (
    EVENT_CONTACT_PREFERENCES,
    EVENT_CONTACT_USER_ID_CHANGED,
    EVENT_MESSAGE_RECEIVED,
    EVENT_MESSAGE_STATUS,
    EVENT_WEBHOOK_UNPARSED,
    EVENT_WHATSAPP_PREFIX,
    QUEUED,
    SENDING,
    STATUSES,
)

HubStatus = Literal[tuple(s for s in STATUSES if s not in (QUEUED, SENDING))]  # type: ignore[misc]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageError(BaseModel):
    """Why a message failed: Meta's error, or `outcome_unknown`."""

    model_config = ConfigDict(extra="allow")

    code: int | str | None = Field(description="Meta's error code, or `outcome_unknown`")
    title: str | None
    message: str | None
    details: str | None
    http_status: int | None = Field(
        None, description="HTTP status of Meta's answer, when the send call was refused"
    )


class StatusContact(_Closed):
    """Who Meta's status says the message reached; each field only where Meta gave it."""

    wa_id: str | None = Field(description="the phone number (`recipient_id`)")
    user_id: str | None = Field(description="the business-scoped user id (BSUID)")
    parent_user_id: str | None = Field(description="the parent BSUID, when enabled")
    username: str | None = Field(description="on delivered and read statuses")


class StatusEventData(_Closed):
    message_id: UUID
    wamid: str | None
    status: HubStatus
    timestamp: datetime = Field(description="Meta's time of this status")
    recipient: str | None = Field(description="the phone number; null when sent by BSUID alone")
    recipient_user_id: str | None = Field(description="the business-scoped user id, if known")
    phone_number_id: str = Field(description="the business number it went from")
    error: MessageError | None = Field(description="the first error, normalised")
    errors: list[dict[str, Any]] | None = Field(description="Meta's errors, as sent")
    metadata: dict[str, Any] | None = Field(description="as given to the send request")
    conversation: dict[str, Any] | None
    pricing: dict[str, Any] | None
    contact: StatusContact | None = Field(
        description="the recipient's ids and username this status of Meta's revealed"
    )


class ReceivedEventData(BaseModel):
    """The content sits under the message type's key (`text`, `image`...): docs/events.md."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    wamid: str
    from_: Annotated[
        str | None,
        Field(alias="from", description="the sender's phone number; null when Meta withholds it"),
    ]
    user_id: str | None = Field(description="the sender's business-scoped user id (BSUID)")
    parent_user_id: str | None = Field(description="the sender's parent BSUID, when enabled")
    username: str | None = Field(description="the sender's WhatsApp username, if they have one")
    profile_name: str | None
    type: str
    timestamp: datetime
    phone_number_id: str | None
    context: dict[str, Any] | None = Field(description="the message this one replies to")
    referral: dict[str, Any] | None = Field(description="the ad or post the user came from")
    errors: list[dict[str, Any]] | None
    extra: dict[str, Any] | None = Field(description="Meta's other top-level keys")


class _Event(_Closed):
    id: str = Field(pattern=r"^evt_", description="equals `webhook-id`; stable across retries")
    created_at: datetime


class MessageStatusEvent(_Event):
    """A message reached a new status; one event per status."""

    type: Literal[EVENT_MESSAGE_STATUS]  # type: ignore[valid-type]
    data: StatusEventData


class MessageReceivedEvent(_Event):
    """A WhatsApp user wrote to the business number."""

    type: Literal[EVENT_MESSAGE_RECEIVED]  # type: ignore[valid-type]
    data: ReceivedEventData


class UserIds(_Closed):
    wa_id: str | None = Field(description="the phone number, when Meta shares it")
    user_id: str | None = Field(description="the business-scoped user id (BSUID)")
    parent_user_id: str | None


class UserIdChangedData(_Closed):
    kind: str = Field(
        description="`user_changed_number`, `user_changed_user_id` (Meta's `system.type`) or"
        " `user_id_update`"
    )
    phone_number_id: str | None = Field(description="the business number the user writes to")
    timestamp: datetime
    wamid: str | None = Field(description="the system message's id")
    previous: UserIds
    current: UserIds


class ContactUserIdChangedEvent(_Event):
    """A user's phone number or business-scoped user id changed."""

    type: Literal[EVENT_CONTACT_USER_ID_CHANGED]  # type: ignore[valid-type]
    data: UserIdChangedData


class PreferencesEventData(_Closed):
    contact: str = Field(description="the user as Meta named them: wa_id (phone digits) or BSUID")
    phone_number_id: str = Field(description="the business number the preference is about")
    value: Literal["stop", "resume"] = Field(description="marketing messages: stop or resume")
    timestamp: datetime = Field(description="Meta's time of the change")
    source: Literal["user_preferences", "system_message", "131050"] = Field(
        description="how Meta said it: the webhook field, the system message, or a failed send"
    )


class ContactPreferencesEvent(_Event):
    """A contact stopped or resumed marketing messages from a business number."""

    type: Literal[EVENT_CONTACT_PREFERENCES]  # type: ignore[valid-type]
    data: PreferencesEventData


class ChangeData(_Closed):
    field: str = Field(description="Meta's `field`")
    waba_id: str | None = Field(description="the entry's id, the WhatsApp Business Account")
    time: datetime | None = Field(description="the entry's `time`")
    value: Any = Field(description="Meta's `value`, unchanged")


class WhatsAppChangeEvent(_Event):
    """Any other webhook field Meta sends (template status, account updates...)."""

    type: Annotated[str, Field(pattern="^" + re.escape(EVENT_WHATSAPP_PREFIX))]
    data: ChangeData


class WebhookUnparsedEvent(_Event):
    """An item of Meta's POST without the documented shape, forwarded rather than dropped."""

    type: Literal[EVENT_WEBHOOK_UNPARSED]  # type: ignore[valid-type]
    data: ChangeData


# Event type (or family) -> model; the OpenAPI document's `webhooks`.
HUB_EVENTS: dict[str, type[BaseModel]] = {
    EVENT_MESSAGE_STATUS: MessageStatusEvent,
    EVENT_MESSAGE_RECEIVED: MessageReceivedEvent,
    EVENT_CONTACT_USER_ID_CHANGED: ContactUserIdChangedEvent,
    EVENT_CONTACT_PREFERENCES: ContactPreferencesEvent,
    EVENT_WHATSAPP_PREFIX + "{field}": WhatsAppChangeEvent,
    EVENT_WEBHOOK_UNPARSED: WebhookUnparsedEvent,
}


def event_model(event_type: str) -> type[BaseModel]:
    """The model of an event of this `type`."""
    if event_type.startswith(EVENT_WHATSAPP_PREFIX):
        return WhatsAppChangeEvent
    return HUB_EVENTS[event_type]
