"""`/docs`: the API reference, rendered by Swagger UI from `/openapi.json`, with no network.

The page and its assets are served by the service itself: Swagger UI's files come from the
`swagger-ui-py` package (its `static` folder; we use its files, not its framework glue), and
the one script of ours is a file too, so the page works offline and under a strict Content
Security Policy (no inline script, nothing from another origin).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, file, html, raw

from server.api_errors import NotFound
from server.openapi.operation import Param, Reply, operation

bp = Blueprint("docs_page")

_SPEC = importlib.util.find_spec("swagger_ui")  # found, not imported: only its files are used
assert _SPEC is not None and _SPEC.submodule_search_locations, "swagger-ui-py is missing"
_STATIC = Path(_SPEC.submodule_search_locations[0]) / "static"
_ASSETS = {  # name -> content type: the files the page loads, nothing else of the package
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
_INIT = b"""window.ui = SwaggerUIBundle({
  url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, docExpansion: "list"
});
"""
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>messaging-service API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script></body></html>
"""
# Swagger UI sets inline styles; everything else comes from this origin only.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)
_CACHE = {"Cache-Control": "public, max-age=86400"}


@bp.get("/docs")
@operation("The API reference, rendered", tag="docs", responses={200: Reply(media="text/html")})
async def docs(request: Request) -> HTTPResponse:
    """Swagger UI, reading `/openapi.json`; every asset from this service."""
    return html(_PAGE, headers={"Content-Security-Policy": _CSP})


@bp.get("/docs/assets/<name:str>")
@operation(
    "An asset of the API reference page",
    tag="docs",
    params=(Param("name", "path", {"enum": [*_ASSETS, "init.js"]}),),
    responses={200: Reply(description="the file", media="*/*")},
    errors=(NotFound,),
)
async def asset(request: Request, name: str) -> HTTPResponse:
    """Swagger UI's files (from the swagger-ui-py package) and the page's own script."""
    if name == "init.js":
        return raw(_INIT, content_type="text/javascript", headers=_CACHE)
    if name not in _ASSETS:
        raise NotFound(f"no asset {name!r}")
    return await file(_STATIC / name, mime_type=_ASSETS[name], headers=_CACHE)
