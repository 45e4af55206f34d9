"""What the service answers, as pydantic models (what it POSTs to the Hub: `hub.contract`).

The OpenAPI document (`server.openapi.document`) is built from them. The send's 202 is
rendered from `Accepted`; the other handlers build plain dicts, and the tests hold the two
together (schemathesis checks every answer against these schemas; the Hub events a real run
produces are validated against the `webhooks` section). Models forbid unknown keys, so a
field added to an answer but not here fails those tests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from core.names import STATUSES
from hub.contract import MessageError

Status = Literal[STATUSES]  # type: ignore[valid-type]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldProblem(_Closed):
    field: str = Field(description="dotted path into the request, e.g. `text.body`")
    message: str


class ErrorDetail(_Closed):
    code: str = Field(description="stable machine-readable code, e.g. `not_found`")
    message: str


class ValidationErrorDetail(ErrorDetail):
    fields: list[FieldProblem] = Field(description="one entry per problem")


class ErrorBody(_Closed):
    """Every error answer."""

    error: ErrorDetail


class ValidationErrorBody(_Closed):
    """The request, a header, a path or query parameter is wrong (400), too large (413), or
    names what this service or Meta would refuse (422); `fields` names each."""

    error: ValidationErrorDetail


class MetaErrorDetail(ErrorDetail):
    meta: MessageError = Field(description="Meta's error, as Meta gave it")


class MetaErrorBody(_Closed):
    """Meta refused a call made in the request (422), or throttles it (429)."""

    error: MetaErrorDetail


_PHONE = "the phone number, digits only, no `+`; null when sent by business-scoped user id alone"
_USER_ID = "the business-scoped user id (BSUID) the send named or Meta revealed; null if none"


class Accepted(_Closed):
    """The message is stored and queued (or, on an idempotent replay, it already was)."""

    id: UUID
    status: Status
    recipient: str | None = Field(description=_PHONE)
    recipient_user_id: str | None = Field(description=_USER_ID)
    type: str
    phone_number_id: str = Field(description="the business number it goes from")
    idempotency_key: str | None
    created_at: datetime
    status_url: str


class TimelineEntry(_Closed):
    status: Status
    at: datetime
    source: str = Field(description="`api`, `sender` or `meta`")
    details: dict[str, Any] | None = Field(None, description="Meta's `conversation`, `pricing`")


class Pricing(_Closed):
    """Meta's `pricing` object as columns: `model` is Meta's `pricing_model`."""

    billable: bool | None = Field(description="Meta's `billable`, else `type` is `regular`")
    model: str | None = Field(description="`PMP`")
    type: str | None = Field(description="`regular`, `free_customer_service` or `free_entry_point`")
    category: str | None = Field(
        description="`marketing`, `utility`, `authentication`, `authentication_international`, "
        "`service`, `marketing_lite`"
    )


class MessageStatus(_Closed):
    """Everything known about one message."""

    id: UUID
    status: Status
    recipient: str | None = Field(description=_PHONE)
    recipient_user_id: str | None = Field(description=_USER_ID)
    type: str
    phone_number_id: str = Field(description="the business number it goes from")
    wamid: str | None
    metadata: dict[str, Any] | None
    idempotency_key: str | None
    error: MessageError | None
    attempts: int
    created_at: datetime
    sending_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    played_at: datetime | None  # a voice note the user listened to
    failed_at: datetime | None
    expires_at: datetime | None  # not written to Meta by then: it fails `expired`
    purged_at: datetime | None = Field(
        description="when retention (RETENTION_DAYS) purged the message's body; the rest stays"
    )
    caller: str = Field(description="the name of the API key that sent it (`default`: a bare key)")
    pricing: Pricing | None = Field(
        description="Meta's pricing, from the message's first status that carried it; null "
        "until one did"
    )
    priced_at: datetime | None = Field(description="when that status was stored")
    timeline: list[TimelineEntry]


class Pong(_Closed):
    status: Literal["ok"]


class WebhookReceived(_Closed):
    received: Literal[True]


class StreamHealth(_Closed):
    group: str
    role: str | None = Field(
        description="the workers that read it: `sender:<phone_number_id>`, `webhooks`, `hub`"
    )
    live_workers: int = Field(description="live workers serving that role (by heartbeat)")
    length: int = Field(description="entries waiting (handled ones are deleted)")
    lag: int | None
    pending: int
    consumers: int | None = None
    dead_letters: int


class LiveWorker(_Closed):
    """A worker whose heartbeat is fresh, and the roles it serves."""

    id: str = Field(description="also its consumer name in every group")
    roles: list[str]


class Alert(_Closed):
    """A pause: sending on a number stopped by Meta, deliveries stopped by the Hub. The
    service is obeying the outside world, not failing: alerts never make `/health/` a 503."""

    alert: Literal["sending_paused", "hub_deliveries_paused"]
    phone_number_id: str | None = Field(None, description="the paused number (sending_paused)")
    code: int | str | None
    title: str | None
    until: datetime


class HealthReport(_Closed):
    """PostgreSQL and Redis reachability (`ok` or `error: <type>`), the live workers, each
    stream's backlog, pauses. `degraded` (a 503) when entries wait on a stream no live worker
    reads, `unavailable` (a 503) when PostgreSQL or Redis does not answer; `problems` says
    which. A role with no live worker and nothing waiting is a note, with a 200."""

    status: Literal["ok", "degraded", "unavailable"]
    postgres: str
    redis: str
    workers: list[LiveWorker]
    streams: dict[str, StreamHealth]
    dead_letters: dict[str, int | None]
    problems: list[str] = Field(
        description="why the status is not ok, e.g. `no live sender for 106540352242922 and "
        "its stream has 12 entries waiting`"
    )
    notes: list[str] = Field(description="roles no live worker serves while nothing waits for them")
    alerts: list[Alert]


class MediaUploaded(_Closed):
    """Meta's media id for the uploaded file, to send it with (`image.id`, `document.id`...)."""

    id: str = Field(pattern=r"^[0-9]+$")
    mime_type: str
    file_size: int
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    filename: str | None


class MediaUpload(_Closed):
    """`POST /api/v1/media/`'s form: the file and, unless its part says, its MIME type."""

    file: bytes = Field(description="the file (at most Meta's limit for its type)")
    type: str = Field("", description="the file's MIME type, e.g. image/jpeg")
    messaging_product: Literal["whatsapp"] = "whatsapp"
    phone_number_id: str = Field(
        "", description="the business number to send it from (default: the default number)"
    )


class ServiceWindow(_Closed):
    """Meta's 24 h customer-service window with this contact, on this number."""

    open: bool
    expires_at: datetime | None = Field(description="when it closes (or closed); null if never")
    last_inbound_at: datetime | None = Field(description="when the contact last wrote")
    closed_by_meta_at: datetime | None = Field(description="Meta's 131047, if it came since")


class MarketingConsent(_Closed):
    """The contact's latest marketing preference on this number, by Meta's time (its
    `user_preferences` webhook, the `user_preference_changed` system message, or a 131050);
    null fields while Meta reported none."""

    value: Literal["stop", "resume"] | None = Field(
        description="stop: MARKETING templates are refused (422 marketing_opted_out)"
    )
    changed_at: datetime | None = Field(description="Meta's time of the change")
    source: Literal["user_preferences", "system_message", "131050"] | None


class ContactInfo(_Closed):
    """A person on a business number: each identifier Meta revealed for them (null while
    unknown) and their service window, whichever identifier they wrote with."""

    wa_id: str | None = Field(description="the phone number; null while Meta withholds it")
    user_id: str | None = Field(description="the business-scoped user id (BSUID)")
    parent_user_id: str | None = Field(description="the parent BSUID, when enabled")
    username: str | None = Field(description="the user's WhatsApp username")
    phone_number_id: str
    service_window: ServiceWindow
    marketing: MarketingConsent


class MarkedRead(_Closed):
    wamid: str
    status: Literal["read"]
    typing_indicator: bool


class TemplateParameter(_Closed):
    type: str = Field(
        description="the parameter's `type` in a send: text, image, video, document, location "
        "or coupon_code"
    )
    parameter_name: str | None = Field(description="its `parameter_name` (NAMED templates)")
    example: str | None = Field(description="the example Meta was given, if any")


class TemplateComponentParameters(_Closed):
    """The parameters one component of a send must carry, in the send's shape."""

    type: Literal["header", "body", "button"]
    sub_type: str | None = Field(description="buttons: `url` or `copy_code`")
    index: int | None = Field(description="buttons: the button's position, from 0")
    parameters: list[TemplateParameter]


class ListedTemplate(_Closed):
    """One template in one language, as Meta lists it."""

    name: str
    language: str
    status: str = Field(description="Meta's: APPROVED, PENDING, REJECTED, PAUSED, DISABLED...")
    category: str | None = Field(description="MARKETING, UTILITY or AUTHENTICATION")
    id: str | None = Field(description="Meta's template id")
    parameter_format: Literal["POSITIONAL", "NAMED"]
    components: list[dict[str, Any]] = Field(description="Meta's components, as listed")
    parameters: list[TemplateComponentParameters] = Field(
        description="what a send must carry: one entry per component that takes parameters"
    )


class TemplateCatalog(_Closed):
    """The WhatsApp Business Account's templates, as the last sync found them."""

    waba_id: str | None = Field(description="WHATSAPP_BUSINESS_ACCOUNT_ID; null: no catalog")
    synced_at: datetime | None = Field(description="when the last sync started; null: never")
    templates: list[ListedTemplate]
