"""`GET /api/v1/templates/`: the template catalog of the WhatsApp Business Account, as the
worker last synced it from Meta, with the parameters each component of a send needs."""

from __future__ import annotations

import re
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from db import templates
from server.api_errors import Unavailable, ValidationError, unknown_parameters
from server.auth import require_api_key
from server.openapi.answers import TemplateCatalog
from server.openapi.operation import API_KEY, Param, operation
from server.web_context import web
from whatsapp.template_rules import NAME_PATTERN
from whatsapp.templates import parse_template

bp = Blueprint("templates", url_prefix="/api/v1/templates")
_FILTERS = {
    "name": re.compile(NAME_PATTERN),
    "status": re.compile(r"^[A-Z_]{1,64}$"),
}


@bp.get("/")
@operation(
    "The template catalog",
    tag="templates",
    params=(
        Param(
            "name",
            "query",
            {"type": "string", "pattern": _FILTERS["name"].pattern},
            required=False,
            description="only this template (each of its languages)",
        ),
        Param(
            "status",
            "query",
            {"type": "string", "pattern": _FILTERS["status"].pattern},
            required=False,
            description="only templates of this status, e.g. APPROVED",
        ),
    ),
    responses={200: TemplateCatalog},
    errors=(ValidationError, Unavailable),
    auth=API_KEY,
)
async def catalog(request: Request) -> HTTPResponse:
    """Every template of WHATSAPP_BUSINESS_ACCOUNT_ID in each of its languages: status,
    category, Meta's components, and the parameters each component of a send must carry.
    Without a WABA id the list is empty and `waba_id` null; `synced_at` is null until the
    worker's first sync."""
    require_api_key(request)
    args = request.get_args(keep_blank_values=True)
    problems = unknown_parameters(args, _FILTERS)
    filters = {name: args.get(name) for name in _FILTERS if name in args}
    problems += [
        {"field": name, "message": f"must match {_FILTERS[name].pattern}"}
        for name, value in filters.items()
        if not _FILTERS[name].match(value or "")
    ]
    if problems:
        raise ValidationError(problems)
    ctx = web(request)
    waba_id = ctx.settings.whatsapp_business_account_id
    if not waba_id:
        return json({"waba_id": None, "synced_at": None, "templates": []})
    pool = ctx.pool
    sync = await templates.last_sync(pool, waba_id)
    rows = await templates.catalog(pool, waba_id, **filters)
    body = {
        "waba_id": waba_id,
        "synced_at": sync.synced_at.isoformat() if sync else None,
        "templates": [_listed(row.definition) for row in rows],
    }
    return json(body)


def _listed(definition: dict[str, Any]) -> dict[str, Any]:
    template = parse_template(definition)
    return {
        "name": template.name,
        "language": template.language,
        "status": template.status,
        "category": template.category,
        "id": template.id,
        "parameter_format": template.parameter_format,
        "components": template.components,
        "parameters": [n.as_dict() for n in template.needs],
    }
