"""The OpenAPI 3.1 document (`/openapi.json`), built from the app (its page: `page`).

The document walks `app.router.routes` and renders each handler's `@operation` declaration
(`server.openapi.operation`); schemas come from the pydantic models (`server.openapi.answers`,
`server.payloads`) and are hoisted into `components.schemas`. A route without a declaration
is left out, and `tests/server/test_openapi.py` fails on it. Hub events are the `webhooks`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

import orjson
from pydantic import BaseModel
from sanic import Blueprint, Request, Sanic
from sanic.response import HTTPResponse, raw

from hub.contract import HUB_EVENTS
from server.api_errors import ApiError, ValidationError
from server.meta_answers import MetaRejectedRequest
from server.middleware.request_ids import HEADER
from server.openapi.answers import ErrorBody, MetaErrorBody, ValidationErrorBody
from server.openapi.operation import (
    Operation,
    Param,
    Reply,
    SchemaSource,
    declared,
    first_line,
    operation,
)
from server.web_context import web

__all__ = ["bp", "build_document", "document_path"]

# Error classes whose body carries more than `code` and `message`, and that body.
_ERROR_BODIES = ((ValidationError, ValidationErrorBody), (MetaRejectedRequest, MetaErrorBody))
_REFS = "#/components/schemas/"
# Taken from the caller when sane (else replaced, never refused), echoed on every answer.
_REQUEST_ID = Param(
    HEADER,
    "header",
    required=False,
    description="your id for this request (else one is generated); echoed, and in every log "
    "line of the request",
)
_DEFS = "#/$defs/"
_SECURITY_SCHEMES = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "Api-Key",
        "description": "A key of `MESSAGING_SERVICE_API_KEY` (comma-separated `name:key` "
        "items, or bare keys: the caller `default`); messages record the caller's name.",
    },
    "HealthBearer": {"type": "http", "scheme": "bearer", "description": "HEALTH_CHECK_TOKENS"},
    "HealthHeader": {"type": "apiKey", "in": "header", "name": "X-Health-Token"},
    "HealthQuery": {"type": "apiKey", "in": "query", "name": "token"},
}
_INFO = {
    "title": "messaging-service",
    "version": "1.0.0",
    "description": (
        "The Hub's gateway to WhatsApp: send messages through Meta's Cloud API, read their "
        "status, and receive every status change and inbound message as a signed event "
        '(see *Webhooks*). Errors are always JSON: `{"error": {"code", "message"}}`, '
        "plus `fields`, one entry per wrong field, on every answer about the request's own "
        "fields: the 400s, and the 413s and 422s whose body is a `ValidationErrorBody`."
    ),
}


def document_path(route: Any) -> str:
    """`api/v1/messages/status/<message_id:str>` -> `/api/v1/messages/status/{message_id}/`.

    A route without strict slashes answers with and without the trailing slash; the document
    gives the slash form, as the README does. A strict route is given exactly as declared.
    """
    path = "/" + re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", route.path)
    return path if route.strict or path.endswith("/") else path + "/"


def build_document(app: Sanic) -> dict[str, Any]:
    """The whole document, from the routes the app really has."""
    schemas: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes:
        op = declared(route.handler)
        if op is None:
            continue
        path = document_path(route)
        for method in sorted(route.methods):
            # The route's name without the app's: `messages.send`, unique by construction.
            op_id = route.name.split(".", 1)[-1] + ("" if len(route.methods) == 1 else method)
            paths.setdefault(path, {})[method.lower()] = _render(op, path, op_id, schemas)
    return {
        "openapi": "3.1.0",
        "info": _INFO,
        "paths": dict(sorted(paths.items())),
        "webhooks": _hub_webhooks(schemas),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": _SECURITY_SCHEMES,
            "parameters": {"RequestId": _parameter(_REQUEST_ID)},
            "headers": {"RequestId": _header(_REQUEST_ID, required=True)},
        },
    }


bp = Blueprint("openapi")


@bp.get("/openapi.json")
@operation("This document", tag="docs", responses={200: Reply(description="OpenAPI 3.1")})
async def openapi_json(request: Request) -> HTTPResponse:
    """Built once per process from the registered routes."""
    ctx = web(request)
    if ctx.openapi is None:
        ctx.openapi = orjson.dumps(build_document(request.app))
    return raw(ctx.openapi, content_type="application/json")


def _render(op: Operation, path: str, op_id: str, schemas: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op_id, "summary": op.summary, "tags": [op.tag]}
    if op.description:
        out["description"] = op.description
    path_names = re.findall(r"{(\w+)}", path)
    given = {p.name for p in op.params if p.where == "path"}
    params = [*op.params, *(Param(n, "path") for n in path_names if n not in given)]
    out["parameters"] = [*map(_parameter, params), {"$ref": "#/components/parameters/RequestId"}]
    if op.body is not None:
        schema = _schema(op.body.schema, "validation", schemas, op.body.name)
        out["requestBody"] = {
            "required": op.body.required,
            "description": op.body.description,
            "content": {op.body.media: {"schema": schema}},
        }
    out["responses"] = {
        str(status): _response(reply, schemas) for status, reply in sorted(op.responses.items())
    }
    for status, classes in sorted(_by_status(op.errors).items()):
        out["responses"][str(status)] = _error_response(classes, schemas)
    for response in out["responses"].values():  # every answer echoes it
        response.setdefault("headers", {})[HEADER] = {"$ref": "#/components/headers/RequestId"}
    out["security"] = list(op.auth)  # empty: no authentication
    return out


def _parameter(p: Param) -> dict[str, Any]:
    out = {"name": p.name, "in": p.where, "required": p.required, "schema": dict(p.schema)}
    if p.description:
        out["description"] = p.description
    return out


def _response(reply: Reply, schemas: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description or "OK"}
    if reply.model is not None:
        schema = _schema(reply.model, "serialization", schemas)
    else:
        schema = {"type": "object" if reply.media == "application/json" else "string"}
    out["content"] = {reply.media: {"schema": schema}}
    if reply.headers:
        out["headers"] = {h.name: _header(h, h.required) for h in reply.headers}
    return out


def _header(h: Param, required: bool) -> dict[str, Any]:
    return {"required": required, "schema": dict(h.schema), "description": h.description}


def _by_status(errors: Iterable[type[ApiError]]) -> dict[int, list[type[ApiError]]]:
    grouped: dict[int, list[type[ApiError]]] = {}
    for cls in errors:
        if cls not in grouped.setdefault(cls.status, []):
            grouped[cls.status].append(cls)
    return grouped


def _error_response(classes: list[type[ApiError]], schemas: dict[str, Any]) -> dict[str, Any]:
    """One status's error bodies: each class's body model with `code` pinned to its own."""
    bodies = [
        {
            "allOf": [_schema(_body_model(cls), "serialization", schemas)],
            "properties": {"error": {"properties": {"code": {"const": cls.code}}}},
        }
        for cls in classes
    ]
    schema = bodies[0] if len(bodies) == 1 else {"anyOf": bodies}
    codes = sorted({c.code for c in classes})
    doc = f"{HTTPStatus(classes[0].status).phrase}: " + ", ".join(f"`{c}`" for c in codes)
    return {"description": doc, "content": {"application/json": {"schema": schema}}}


def _body_model(cls: type[ApiError]) -> type[BaseModel]:
    """The body an error class renders: `ErrorBody` unless it carries more (`ApiError.body`)."""
    for base, model in _ERROR_BODIES:
        if issubclass(cls, base):
            return model
    return ErrorBody


def _hub_webhooks(schemas: dict[str, Any]) -> dict[str, Any]:
    headers = [
        Param("webhook-id", "header", description="the event's `id`; de-duplicate on it"),
        Param("webhook-timestamp", "header", description="Unix seconds, signed"),
        Param("webhook-signature", "header", description="`v1,<base64 HMAC-SHA256>`"),
    ]
    return {
        name: {
            "post": {
                "summary": f"`{name}` event",
                "description": (
                    f"{first_line(model)} POSTed to `HUB_WEBHOOK_URL`, signed per Standard "
                    "Webhooks with `HUB_WEBHOOK_SECRET`."
                ),
                "parameters": [_parameter(h) for h in headers],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _schema(model, "serialization", schemas)}
                    },
                },
                "responses": {
                    "2XX": {"description": "received"},
                    "default": {
                        "description": "5xx, 408, 409 and 429 are retried (honouring "
                        "`Retry-After`); any other answer dead-letters the event"
                    },
                },
            }
        }
        for name, model in HUB_EVENTS.items()
    }


def _schema(
    source: SchemaSource, mode: str, schemas: dict[str, Any], name: str | None = None
) -> dict[str, Any]:
    """A `$ref` to `source`'s schema, itself and its `$defs` moved into `schemas`."""
    if isinstance(source, type) and issubclass(source, BaseModel):
        schema = source.model_json_schema(mode=mode)  # type: ignore[arg-type]
        name = name or source.__name__
    else:
        schema = source()
    assert name, "a body given as a function needs a name"
    for def_name, definition in schema.pop("$defs", {}).items():
        _add(schemas, def_name, _rewrite(definition))
    _add(schemas, name, _rewrite(schema))
    return {"$ref": _REFS + name}


def _add(schemas: dict[str, Any], name: str, schema: Any) -> None:
    if schemas.setdefault(name, schema) != schema:
        raise ValueError(f"two different schemas are both named {name!r}")


def _rewrite(node: Any) -> Any:
    """Point pydantic's local `#/$defs/X` references at `#/components/schemas/X`."""
    if isinstance(node, dict):
        return {k: _rewrite(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    if isinstance(node, str) and node.startswith(_DEFS):
        return _REFS + node.removeprefix(_DEFS)
    return node
