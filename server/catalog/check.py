"""A template send checked against the catalog before anything is stored: a 422 naming the
field when Meta would refuse it (132001 no such template or language, 132015 not approved,
132000 wrong parameter count, 132012 a header parameter missing or of the wrong type, 131062
an AUTHENTICATION template to a business-scoped user id without `to`).

Nothing is checked without WHATSAPP_BUSINESS_ACCOUNT_ID, nor while the catalog was never
synced (a new deployment, or Meta unreachable since): those sends go through and Meta
decides, as it would with no catalog; refusing every template until the first sync would
stop the Hub for an outage of Meta's listing alone. What is checked: the name, the language,
the status, the body's parameter count (and names, for NAMED templates), and the one
parameter of a media or location header. Buttons are left to Meta.
"""

from __future__ import annotations

from typing import Any

from server.api_errors import (
    TemplateLanguageNotFound,
    TemplateNeedsPhoneNumber,
    TemplateNotApproved,
    TemplateNotFound,
    TemplateParametersMismatch,
    TemplateRefused,
)
from server.catalog.cache import Catalog, TemplateCache
from server.payloads.base import SendRequest
from server.payloads.template import Template as SentTemplate
from whatsapp.templates import APPROVED, NAMED, Needs
from whatsapp.templates import Template as ListedTemplate

# The refusals, for the send operation's OpenAPI declaration.
REFUSALS = (
    TemplateNotFound,
    TemplateLanguageNotFound,
    TemplateNotApproved,
    TemplateParametersMismatch,
    TemplateNeedsPhoneNumber,
)
# Meta sends no authentication template (one-tap, zero-tap, copy-code) to a BSUID: 131062.
_NEEDS_PHONE = "AUTHENTICATION"


async def check_template(cache: TemplateCache | None, req: SendRequest) -> str | None:
    """Raise a `TemplateRefused` (422) for a template send Meta would refuse; else the
    template's category (MARKETING, UTILITY, AUTHENTICATION) as the catalog lists it. None
    for other types, without a WABA id (`cache` None) and while the catalog was never synced."""
    if cache is None or req.type != "template":
        return None
    catalog = await cache.current()
    if catalog is None:
        return None
    sent: SentTemplate = req.template  # type: ignore[attr-defined]
    refusal = refused(catalog, sent, by_user_id=req.to is None)
    if refusal is not None:
        raise refusal
    return catalog.by_name[sent.name][sent.language.code].category


def refused(
    catalog: Catalog, sent: SentTemplate, by_user_id: bool = False
) -> TemplateRefused | None:
    """Why Meta would refuse `sent` (to a business-scoped user id alone, if `by_user_id`), as
    the error to answer; None when it fits."""
    languages = catalog.by_name.get(sent.name)
    if not languages:
        message = f"is not in the template catalog of WhatsApp Business Account {catalog.waba_id}"
        return TemplateNotFound([{"field": "template.name", "message": message}])
    code = sent.language.code
    listed = languages.get(code)
    if listed is None:
        known = ", ".join(sorted(languages))
        message = f"{sent.name} has no {code!r} translation (it has {known})"
        return TemplateLanguageNotFound([{"field": "template.language.code", "message": message}])
    if listed.status != APPROVED:
        message = f"is {listed.status} in {code}, not APPROVED: Meta would refuse to send it"
        return TemplateNotApproved([{"field": "template.name", "message": message}])
    if by_user_id and listed.category == _NEEDS_PHONE:
        message = (
            f"must be given with to (a phone number): {sent.name} is an {_NEEDS_PHONE} "
            "template, which Meta does not send to a business-scoped user id (131062)"
        )
        return TemplateNeedsPhoneNumber([{"field": "recipient", "message": message}])
    fields = _parameter_problems(listed, sent)
    return TemplateParametersMismatch(fields) if fields else None


def _parameter_problems(listed: ListedTemplate, sent: SentTemplate) -> list[dict[str, str]]:
    given: dict[str, tuple[int, Any]] = {}
    for i, component in enumerate(sent.components or []):
        given.setdefault(component.type, (i, component))  # the first of each type
    problems = _body_problems(listed, given.get("body"))
    header = listed.component("header")
    if header is not None and header.parameters[0].type != "text":
        kind, fmt = header.parameters[0].type, listed.header_format()
        problems += _header_problems(kind, f"the template's header format is {fmt}", given)
    return problems


def _body_problems(listed: ListedTemplate, given: tuple[int, Any] | None) -> list[dict[str, str]]:
    needs = listed.component("body") or Needs("body", ())
    want = len(needs.parameters)
    shown = ", ".join(_placeholder(needs, i) for i in range(want)) or "no placeholders"
    if given is None:
        if not want:
            return []
        message = f"must have a body component with {want} parameter(s), for {shown}"
        return [{"field": "template.components", "message": message}]
    i, component = given
    field = f"template.components[{i}].parameters"
    if len(component.parameters) != want:
        message = (
            f"must have {want} parameter(s), one per placeholder of the template's body "
            f"({shown}); has {len(component.parameters)}"
        )
        return [{"field": field, "message": message}]
    if listed.parameter_format != NAMED:
        return []
    names = {p.parameter_name for p in needs.parameters}
    return [
        {"field": f"{field}[{j}].parameter_name", "message": f"must be one of {shown}"}
        for j, p in enumerate(component.parameters)
        if p.parameter_name not in names
    ]


def _header_problems(
    kind: str, why: str, given: dict[str, tuple[int, Any]]
) -> list[dict[str, str]]:
    if "header" not in given:
        message = f"must have a header component with one {kind} parameter: {why}"
        return [{"field": "template.components", "message": message}]
    i, component = given["header"]
    if not component.parameters:
        message = f"must have one {kind} parameter: {why}"
        return [{"field": f"template.components[{i}].parameters", "message": message}]
    if component.parameters[0].type != kind:
        message = f"must be {kind}: {why}"
        return [{"field": f"template.components[{i}].parameters[0].type", "message": message}]
    return []


def _placeholder(needs: Needs, i: int) -> str:
    return "{{" + (needs.parameters[i].parameter_name or str(i + 1)) + "}}"
