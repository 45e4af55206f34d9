"""How a handler declares its operation in the OpenAPI document: one decorator by its route.

    @bp.get("/status/<message_id:str>/")
    @operation("Read a message's status", tag="messages", responses={200: MessageStatus},
               errors=(ValidationError, NotFound, Unavailable), auth=API_KEY,
               params=(Param("message_id", "path", {"type": "string", "format": "uuid"}),))
    async def status(request, message_id): ...

`server.openapi.document` walks the app's routes and renders each declaration; the handler's
docstring becomes the operation's description, `auth` adds the 401, `errors` the error bodies.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from core.numbers import FIELD
from server.api_errors import ApiError, Unauthorized

__all__ = [
    "API_KEY",
    "HEALTH_TOKEN",
    "Body",
    "Operation",
    "Param",
    "Reply",
    "number_param",
    "operation",
]

_ATTR = "__openapi__"
_H = TypeVar("_H", bound=Callable[..., Any])

# Security requirements, named after the document's security schemes; several = any of them.
API_KEY = ({"ApiKey": []},)
HEALTH_TOKEN = ({"HealthBearer": []}, {"HealthHeader": []}, {"HealthQuery": []})

SchemaSource = type[BaseModel] | Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class Param:
    """A path, query or header parameter."""

    name: str
    where: Literal["path", "query", "header"]
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = True
    description: str = ""


def number_param(description: str) -> Param:
    """A route's optional `?phone_number_id=`: the business number it speaks for."""
    schema = {"type": "string", "pattern": "^[0-9]+$"}
    return Param(FIELD, "query", schema, required=False, description=description)


@dataclass(frozen=True)
class Body:
    """A request body of `media`: a model, or a function returning a JSON Schema."""

    schema: SchemaSource
    name: str
    description: str = ""
    media: str = "application/json"
    required: bool = True


@dataclass(frozen=True)
class Reply:
    """One response: a JSON model, or any body of `media` when `model` is None."""

    model: type[BaseModel] | None = None
    description: str = ""
    media: str = "application/json"
    headers: tuple[Param, ...] = ()


@dataclass(frozen=True)
class Operation:
    """What `operation()` attaches to a handler."""

    summary: str
    description: str
    tag: str
    responses: Mapping[int, Reply]
    errors: tuple[type[ApiError], ...]
    auth: tuple[dict[str, list[str]], ...]
    params: tuple[Param, ...]
    body: Body | None


def operation(
    summary: str,
    *,
    tag: str,
    responses: Mapping[int, Reply | type[BaseModel]],
    errors: Iterable[type[ApiError]] = (),
    auth: tuple[dict[str, list[str]], ...] = (),
    params: Iterable[Param] = (),
    body: Body | None = None,
) -> Callable[[_H], _H]:
    """Declare a handler's operation; the handler's docstring becomes its description."""

    def declare(handler: _H) -> _H:
        replies = {
            status: reply if isinstance(reply, Reply) else Reply(reply, first_line(reply))
            for status, reply in responses.items()
        }
        errs = tuple(errors) + ((Unauthorized,) if auth else ())
        op = Operation(
            summary,
            inspect.cleandoc(handler.__doc__ or ""),
            tag,
            replies,
            errs,
            auth,
            tuple(params),
            body,
        )
        setattr(handler, _ATTR, op)
        return handler

    return declare


def declared(handler: Callable[..., Any]) -> Operation | None:
    """The handler's declaration, or None: an undeclared route is left out of the document."""
    return getattr(handler, _ATTR, None)


def first_line(obj: Any) -> str:
    """The first line of `obj`'s docstring, as a summary."""
    return (obj.__doc__ or "").strip().split("\n")[0]
