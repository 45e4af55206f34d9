"""The answer of `GET /api/v1/templates/`, as pydantic models for the OpenAPI document
(the handler builds plain dicts; schemathesis holds the two together, as `server.schemas`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
