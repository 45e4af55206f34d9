"""The host a request names, on a real socket: SECURE_SSL_REDIRECT sends plain-http requests
(as the proxy reports them) to the same path on `https://PUBLIC_HOST`, never to the host the
request named, and without PUBLIC_HOST refuses them; with ALLOWED_HOSTS, a request naming
another host gets 400, except `/ping/` (the platform's healthcheck names a host of its own)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.conftest import Services
from tests.support.inprocess import Served, serving

PUBLIC = "messaging.example.com"
HTTP = {"X-Forwarded-Proto": "http", "Host": PUBLIC}


@pytest.fixture(scope="module")  # requests only: one app serves the module's cases
async def redirecting(database_url: str, services: Services) -> AsyncIterator[Served]:
    async with serving(
        database_url, services.redis_url, SECURE_SSL_REDIRECT="true", PUBLIC_HOST=PUBLIC
    ) as served:
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
        assert response.headers["location"] == f"https://{PUBLIC}{path}"


# The Host an attacker sends, and what a redirect built from it would have pointed at.
FOREIGN_HOSTS = [
    "evil.example",
    "good.example@evil.example",
    "evil.example:443",
    f"{PUBLIC}.evil.example",
    "evil.example/path",
]


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
async def test_the_redirect_goes_to_public_host_whatever_host_the_request_names(
    redirecting: Served, host: str
):
    client, _ = redirecting
    headers = {"X-Forwarded-Proto": "http", "Host": host}
    response = await client.get("/api/v1/messages/status/x/?a=1", headers=headers)
    assert response.status_code == 301
    assert response.headers["location"] == f"https://{PUBLIC}/api/v1/messages/status/x/?a=1"


async def test_without_public_host_plain_http_is_refused_never_redirected(
    database_url: str, services: Services
):
    async with serving(database_url, services.redis_url, SECURE_SSL_REDIRECT="true") as served:
        client, _ = served
        headers = {"X-Forwarded-Proto": "http", "Host": "evil.example"}
        response = await client.get("/health/?a=1", headers=headers)
        assert response.status_code == 400
        assert "location" not in response.headers
        error = response.json()["error"]
        assert error["code"] == "https_required"
        assert [f["field"] for f in error["fields"]] == ["X-Forwarded-Proto"]
        assert "evil.example" not in response.text
        assert (await client.get("/ping/", headers=headers)).status_code == 200


async def test_https_and_direct_requests_are_served(redirecting: Served):
    client, _ = redirecting
    assert (await client.get("/ping/", headers={"X-Forwarded-Proto": "https"})).status_code == 200
    answer = await client.get("/health/", headers={"X-Forwarded-Proto": "https"})
    assert answer.status_code == 401  # served: it asks for the token instead of redirecting


async def test_off_by_default(database_url: str, services: Services):
    async with serving(database_url, services.redis_url) as (client, _):
        assert (await client.get("/health/", headers=HTTP)).status_code == 401


@pytest.fixture(scope="module")
async def guarded(database_url: str, services: Services) -> AsyncIterator[Served]:
    async with serving(
        database_url,
        services.redis_url,
        SECURE_SSL_REDIRECT="true",
        PUBLIC_HOST=PUBLIC,
        ALLOWED_HOSTS="api.example.org,.internal.example",
    ) as served:
        yield served


# label, Host, path, expected status (401: served, it asks for the token)
HOSTS = [
    ("an allowed host", "api.example.org", "/health/", 401),
    ("an allowed host with a port", "api.example.org:8443", "/health/", 401),
    ("upper case and a trailing dot", "API.Example.ORG.", "/health/", 401),
    ("PUBLIC_HOST is always allowed", PUBLIC, "/health/", 401),
    ("a subdomain of a leading-dot entry", "web.internal.example", "/health/", 401),
    ("the domain of a leading-dot entry", "internal.example", "/health/", 401),
    ("another host", "evil.example", "/health/", 400),
    ("a suffix that is not a subdomain", "evilinternal.example", "/health/", 400),
    ("user info before an allowed host", "evil.example@api.example.org", "/health/", 400),
    ("an allowed host as a prefix", "api.example.org.evil.example", "/health/", 400),
    ("a leading dot", ".internal.example", "/health/", 400),
    ("no Host at all", "", "/health/", 400),
    ("another host on a send", "evil.example", "/api/v1/messages/send/", 400),
    ("another host on the webhook", "evil.example", "/webhooks/whatsapp/", 400),
    ("Railway's healthcheck on /ping/", "healthcheck.railway.app", "/ping/", 200),
]


@pytest.mark.parametrize(("label", "host", "path", "status"), HOSTS, ids=[h[0] for h in HOSTS])
async def test_allowed_hosts(guarded: Served, label: str, host: str, path: str, status: int):
    client, _ = guarded
    method = "GET" if path in ("/health/", "/ping/") else "POST"
    response = await client.request(method, path, headers={"Host": host})
    assert response.status_code == status, response.text
    if status == 400:
        error = response.json()["error"]
        assert error["code"] == "disallowed_host"
        assert [f["field"] for f in error["fields"]] == ["Host"]


async def test_a_foreign_host_over_plain_http_gets_400_not_a_redirect(guarded: Served):
    client, _ = guarded
    headers = {"X-Forwarded-Proto": "http", "Host": "evil.example"}
    response = await client.get("/health/", headers=headers)
    assert response.status_code == 400 and "location" not in response.headers


async def test_a_foreign_hosts_body_is_refused_before_it_is_read(guarded: Served):
    """Only the head and 1 KB of a declared 7 MB send are sent: the 400 comes anyway and the
    connection closes rather than take the rest."""
    _, env = guarded
    key = env["MESSAGING_SERVICE_API_KEY"].split(",")[0]
    head = (
        "POST /api/v1/messages/send/ HTTP/1.1\r\nHost: evil.example\r\n"
        f"Api-Key: {key}\r\nContent-Length: 7000000\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", int(env["PORT"]))
    try:
        writer.write(head.encode() + b"{" * 1024)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)  # all of it: the server closes
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"disallowed_host" in answer
