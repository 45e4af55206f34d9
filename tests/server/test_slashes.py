"""Every route answers the same with or without its trailing slash (`/docs` and `/docs/`,
`/ping` and `/ping/`): no route is a 404 for a slash."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import Services
from tests.support.inprocess import Served, serving


@pytest.fixture(scope="module")
async def app(database_url: str, services: Services) -> AsyncIterator[Served]:
    async with serving(database_url, services.redis_url) as served:
        yield served


# method, path without its trailing slash, status for a request without credentials
ROUTES = [
    ("GET", "/ping", 200),
    ("GET", "/health", 401),
    ("GET", "/metrics", 401),
    ("GET", "/docs", 200),
    ("GET", "/openapi.json", 200),
    ("POST", "/api/v1/messages/send", 401),
    ("GET", "/api/v1/messages/status/0b5e2c1e-7a0e-4c39-9d1e-1f6f0e3b8a11", 401),
    ("POST", "/api/v1/messages/wamid.abc/read", 401),
    ("POST", "/api/v1/media", 401),
    ("GET", "/api/v1/media/1234", 401),
    ("GET", "/api/v1/templates", 401),
    ("GET", "/webhooks/whatsapp", 403),
    ("POST", "/webhooks/whatsapp", 401),
]


@pytest.mark.parametrize(("method", "path", "status"), ROUTES, ids=[r[1] for r in ROUTES])
@pytest.mark.parametrize("slash", ["", "/"], ids=["bare", "slash"])
async def test_with_or_without_the_trailing_slash(app: Served, method, path, status, slash):
    client, _ = app
    response = await client.request(method, path + slash, headers={"Api-Key": ""})
    assert response.status_code == status, response.text
