"""SECURE_SSL_REDIRECT on a real socket: plain-http requests (as the proxy reports them) get a
301 to the same https URL, except `/ping/` and `/webhooks/`; off, nothing is redirected."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import Services
from tests.support.inprocess import Served, serving

HTTP = {"X-Forwarded-Proto": "http", "Host": "messaging.example.com"}


@pytest.fixture
async def redirecting(database_url: str, services: Services) -> AsyncIterator[Served]:
    async with serving(database_url, services.redis_url, SECURE_SSL_REDIRECT="true") as served:
        yield served


# label, method, path, expected status
CASES = [
    ("api over http", "GET", "/api/v1/messages/status/x/?a=1&b=2", 301),
    ("send over http", "POST", "/api/v1/messages/send/", 301),
    ("health over http", "GET", "/health/", 301),
    ("ping is exempt", "GET", "/ping/", 200),
    ("webhook verification is exempt", "GET", "/webhooks/whatsapp/?hub.mode=x", 403),
    ("webhook POST is exempt", "POST", "/webhooks/whatsapp/", 401),
]


@pytest.mark.parametrize(("label", "method", "path", "status"), CASES, ids=[c[0] for c in CASES])
async def test_plain_http_is_redirected_except_ping_and_webhooks(
    redirecting: Served, label, method, path, status
):
    client, _ = redirecting
    response = await client.request(method, path, headers=HTTP)
    assert response.status_code == status
    if status == 301:
        assert response.headers["location"] == f"https://messaging.example.com{path}"


async def test_https_and_direct_requests_are_served(redirecting: Served):
    client, _ = redirecting
    assert (await client.get("/ping/", headers={"X-Forwarded-Proto": "https"})).status_code == 200
    answer = await client.get("/health/", headers={"X-Forwarded-Proto": "https"})
    assert answer.status_code == 401  # served: it asks for the token instead of redirecting


async def test_off_by_default(database_url: str, services: Services):
    async with serving(database_url, services.redis_url) as (client, _):
        assert (await client.get("/health/", headers=HTTP)).status_code == 401
