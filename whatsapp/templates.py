"""Meta's message templates as `GET /{version}/{waba_id}/message_templates` lists them, and
the parameters a send of each must carry. Pure functions over Meta's JSON.

What each component needs in a send (`parameters_needed`):

- the BODY, and a HEADER of format TEXT: one `text` parameter per placeholder, `{{1}}` to
  `{{n}}` in order, or `{{name}}` when the template's `parameter_format` is NAMED (sent with
  that `parameter_name`);
- a media HEADER: one parameter of its kind (IMAGE `image`, VIDEO `video`, DOCUMENT
  `document`, GIF `video`: Meta sends GIFs as mp4), a LOCATION header one `location`;
- a URL button whose url has a placeholder: one `text`, the url's dynamic suffix (the
  one-time-password button of an authentication template is listed as such a URL button);
  a COPY_CODE button: one `coupon_code`;
- a FOOTER, quick replies, phone numbers and the other buttons: nothing required.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

APPROVED = "APPROVED"
MARKETING = "MARKETING"  # a template category: consent (131050) and Meta's marketing endpoint
NAMED = "NAMED"
POSITIONAL = "POSITIONAL"
MEDIA_HEADERS = {"IMAGE": "image", "VIDEO": "video", "GIF": "video", "DOCUMENT": "document"}
_HEADER_KINDS = {**MEDIA_HEADERS, "LOCATION": "location"}
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


class MalformedTemplates(ValueError):
    """Meta's answer is not a page of templates we can read."""


@dataclass(frozen=True, slots=True)
class Parameter:
    """One parameter a send must carry: its `type`, and its `parameter_name` when NAMED."""

    type: str
    parameter_name: str | None = None
    example: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "parameter_name": self.parameter_name, "example": self.example}


@dataclass(frozen=True, slots=True)
class Needs:
    """The parameters of one component of a send, in the send's shape (`type: body`...)."""

    type: str  # header, body or button
    parameters: tuple[Parameter, ...]
    sub_type: str | None = None  # buttons: url, copy_code
    index: int | None = None  # buttons: the position among the template's buttons

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "sub_type": self.sub_type,
            "index": self.index,
            "parameters": [p.as_dict() for p in self.parameters],
        }


@dataclass(frozen=True, slots=True)
class Template:
    """One template in one language, as Meta lists it, with what a send of it needs."""

    name: str
    language: str
    status: str
    category: str | None
    id: str | None
    parameter_format: str
    components: list[dict[str, Any]]
    needs: tuple[Needs, ...]

    def component(self, type_: str) -> Needs | None:
        """What the `header` or `body` of a send needs; None when it takes nothing."""
        return next((n for n in self.needs if n.type == type_), None)

    def header_format(self) -> str | None:
        """TEXT, IMAGE, VIDEO, GIF, DOCUMENT or LOCATION; None without a header."""
        header = next((c for c in self.components if _kind(c) == "HEADER"), None)
        return str(header.get("format", "TEXT")).upper() if header is not None else None


@dataclass(frozen=True, slots=True)
class Page:
    templates: list[Template]
    skipped: list[str]  # why each item left out could not be read
    after: str | None  # the cursor of the next page; None on the last one


def parse_page(body: Any) -> Page:
    """One page of the listing; `MalformedTemplates` when it is not one (no `data` list, or a
    `paging.next` without a cursor to follow)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise MalformedTemplates("the answer has no `data` list")
    templates, skipped = [], []
    for i, item in enumerate(body["data"]):
        try:
            templates.append(parse_template(item))
        except MalformedTemplates as exc:
            skipped.append(f"data[{i}]: {exc}")
    return Page(templates, skipped, _next_cursor(body.get("paging")))


def parse_template(item: Any) -> Template:
    """One template object; `MalformedTemplates` without a name, language or status."""
    if not isinstance(item, dict):
        raise MalformedTemplates("not an object")
    for key in ("name", "language", "status"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise MalformedTemplates(f"no `{key}`")
    raw = item.get("components")
    components = [c for c in raw if isinstance(c, dict)] if isinstance(raw, list) else []
    fmt = NAMED if str(item.get("parameter_format", "")).upper() == NAMED else POSITIONAL
    category, id_ = item.get("category"), item.get("id")
    return Template(
        name=item["name"],
        language=item["language"],
        status=item["status"].upper(),
        category=category if isinstance(category, str) else None,
        id=str(id_) if isinstance(id_, str | int) else None,
        parameter_format=fmt,
        components=components,
        needs=parameters_needed(components, fmt),
    )


def parameters_needed(components: list[dict[str, Any]], parameter_format: str) -> tuple[Needs, ...]:
    """What each component of a send must carry (components that need nothing are left out)."""
    needs: list[Needs] = []
    for component in components:
        kind = _kind(component)
        if kind == "BODY" or (kind == "HEADER" and _format(component) == "TEXT"):
            part = "body" if kind == "BODY" else "header"
            found = _text_parameters(component, part, parameter_format)
            if found:
                needs.append(Needs(part, found))
        elif kind == "HEADER" and _format(component) in _HEADER_KINDS:
            needs.append(Needs("header", (Parameter(_HEADER_KINDS[_format(component)]),)))
        elif kind == "BUTTONS":
            needs += _button_needs(component.get("buttons"))
    return tuple(needs)


def placeholders(text: Any) -> list[str]:
    """The distinct placeholders of `text` in order of appearance: `["1", "2"]`, `["name"]`."""
    if not isinstance(text, str):
        return []
    return list(dict.fromkeys(m.group(1) for m in _PLACEHOLDER.finditer(text)))


def _text_parameters(component: dict[str, Any], part: str, fmt: str) -> tuple[Parameter, ...]:
    names = placeholders(component.get("text"))
    example = component.get("example") if isinstance(component.get("example"), dict) else {}
    if fmt == NAMED:
        given = example.get(f"{part}_text_named_params")
        examples = {
            e.get("param_name"): e.get("example")
            for e in (given if isinstance(given, list) else [])
            if isinstance(e, dict)
        }
        return tuple(Parameter("text", n, _text(examples.get(n))) for n in names)
    positions = sorted(int(n) for n in names if n.isdigit())
    values = example.get(f"{part}_text")
    if part == "body" and isinstance(values, list) and values:  # body_text: [["a", "b"]]
        values = values[0]
    values = values if isinstance(values, list) else []
    return tuple(
        Parameter("text", example=_text(values[p - 1]) if 0 < p <= len(values) else None)
        for p in positions
    )


def _button_needs(buttons: Any) -> list[Needs]:
    needs = []
    for index, button in enumerate(buttons if isinstance(buttons, list) else []):
        kind = _kind(button) if isinstance(button, dict) else ""
        if kind in ("URL", "OTP") and (placeholders(button.get("url")) or kind == "OTP"):
            needs.append(Needs("button", (Parameter("text"),), "url", index))
        elif kind == "COPY_CODE":
            needs.append(Needs("button", (Parameter("coupon_code"),), "copy_code", index))
    return needs


def _next_cursor(paging: Any) -> str | None:
    if not isinstance(paging, dict) or not paging.get("next"):
        return None  # no `next`: the last page
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    if not after and isinstance(paging["next"], str):
        after = (parse_qs(urlsplit(paging["next"]).query).get("after") or [None])[0]
    if not isinstance(after, str) or not after:
        raise MalformedTemplates("`paging.next` without an `after` cursor")
    return after


def _kind(component: dict[str, Any]) -> str:
    return str(component.get("type", "")).upper()


def _format(component: dict[str, Any]) -> str:
    return str(component.get("format", "TEXT")).upper()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
