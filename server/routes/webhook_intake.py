"""Meta's webhook: verify, publish the raw body, answer 200. The webhook path starts here
and continues in `consumers.webhook_processor`; no database work happens in Meta's request."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json, text

from core import logs
from core.tokens import matches_any
from server.api_errors import Forbidden, PayloadTooLarge, Unauthorized, Unavailable
from server.auth import verify_meta_signature
from server.middleware.bodies import read_body
from server.openapi.answers import WebhookReceived
from server.openapi.operation import Body, Param, Reply, operation
from server.routes.metrics import WEBHOOKS_RECEIVED
from server.web_context import web

bp = Blueprint("webhooks", url_prefix="/webhooks/whatsapp")


@bp.get("/")
@operation(
    "Meta's subscription handshake",
    tag="webhooks",
    params=(
        Param("hub.mode", "query", {"type": "string", "enum": ["subscribe"]}),
        Param("hub.verify_token", "query", description="WHATSAPP_VERIFY_TOKEN"),
        Param("hub.challenge", "query"),
    ),
    responses={200: Reply(description="`hub.challenge`", media="text/plain")},
    errors=(Forbidden,),
)
async def verify(request: Request) -> HTTPResponse:
    """Meta's subscription handshake: echo `hub.challenge` when the verify token matches."""
    settings = web(request).settings
    mode = request.args.get("hub.mode")
    token = request.args.get("hub.verify_token", "")
    challenge = request.args.get("hub.challenge", "")
    if mode != "subscribe" or not matches_any(token, [settings.verify_token]):
        raise Forbidden("webhook verification failed")
    return text(challenge)


@bp.post("/", ignore_body=True)  # read once the signature header is there (below)
@operation(
    "Meta's webhook: statuses and inbound messages",
    tag="webhooks",
    body=Body(lambda: {"type": "object"}, "MetaWebhook", "Meta's notification, kept raw"),
    params=(
        Param(
            "X-Hub-Signature-256",
            "header",
            {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
            description="HMAC-SHA256 of the raw body with WHATSAPP_APP_SECRET",
        ),
    ),
    responses={200: WebhookReceived},
    errors=(Unauthorized, Forbidden, PayloadTooLarge, Unavailable),
)
async def receive(request: Request) -> HTTPResponse:
    """Verify the signature, append the raw body to the webhooks stream, answer at once."""
    ctx = web(request)
    settings = ctx.settings
    signature = request.headers.get("X-Hub-Signature-256")
    if not signature:
        raise Unauthorized("missing X-Hub-Signature-256 header")
    # The signature needs the whole body: a bogus one costs the sender at most Meta's largest.
    body = await read_body(request, settings.webhook_max_body_bytes)
    verify_meta_signature(body, signature, settings.app_secret)
    stream, entry_id = await ctx.webhook_bodies.submit(body)
    logs.bind(stream=stream, entry_id=entry_id)  # where the worker picks it up
    WEBHOOKS_RECEIVED.inc()
    return json({"received": True})
