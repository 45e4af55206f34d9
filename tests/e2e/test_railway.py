"""`.railway/railway.py` evaluated with railway-sdk, as `railway config plan` evaluates it:
PostgreSQL, Redis, and the image as `web` (pre-deploy migrate, healthcheck `/ping/`) and
`worker`, wired by references, every other required setting left to set in Railway."""

from __future__ import annotations

import runpy
from typing import Any

import pytest
from railway_sdk import create_railway_context

from core.settings import Settings
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def graph() -> dict[str, Any]:
    config = runpy.run_path(str(ROOT / ".railway" / "railway.py"))
    project = config["main"](create_railway_context(environment="production"))
    return project.to_graph()


def _node(graph: dict[str, Any], name: str) -> dict[str, Any]:
    [node] = [r for r in graph["resources"] if r["name"] == name]
    return node


def test_the_project_is_two_databases_and_two_services(graph):
    kinds = {r["name"]: (r["type"], r.get("engine")) for r in graph["resources"]}
    assert graph["name"] == "messaging-service"
    assert set(kinds) == {"postgres", "redis", "web", "worker"}
    assert kinds["web"][0] == kinds["worker"][0] == "service"


def test_web_and_worker_run_the_dockerfile_image(graph):
    web, worker = _node(graph, "web"), _node(graph, "worker")
    for node in (web, worker):
        assert node["build"] == {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"}
        assert node["source"]["type"] == "github"
        assert node["deploy"]["drainingSeconds"] >= 25  # SHUTDOWN_TIMEOUT_S is 20
    assert web["deploy"]["preDeployCommand"] == ["python -m db.migrate"]
    assert web["deploy"]["healthcheckPath"] == "/ping/"
    assert "startCommand" not in web["deploy"]  # the image's CMD: python -m server
    assert worker["deploy"]["startCommand"] == "python -m consumers"
    assert "preDeployCommand" not in worker["deploy"] and "healthcheckPath" not in worker["deploy"]
    assert web["variables"]["SECURE_SSL_REDIRECT"] == {"type": "literal", "value": "true"}


def test_the_web_redirects_to_its_own_domain_and_answers_to_its_names_only(graph):
    """Railway resolves `${{...}}` in a variable to the deployment's own domains."""
    variables = _node(graph, "web")["variables"]
    public = "${{RAILWAY_PUBLIC_DOMAIN}}"
    assert variables["PUBLIC_HOST"] == {"type": "literal", "value": public}
    allowed = variables["ALLOWED_HOSTS"]["value"].split(",")
    assert allowed == [public, "${{RAILWAY_PRIVATE_DOMAIN}}"]
    assert "PUBLIC_HOST" not in _node(graph, "worker")["variables"]


@pytest.mark.parametrize("service", ["web", "worker"])
def test_urls_are_references_and_secrets_are_never_in_the_file(graph, service):
    variables = _node(graph, service)["variables"]
    db, cache = _node(graph, "postgres"), _node(graph, "redis")
    assert variables["DATABASE_URL"] == {
        "type": "reference",
        "resource": db["address"],
        "output": "DATABASE_URL",
    }
    assert variables["REDIS_URL"] == {
        "type": "reference",
        "resource": cache["address"],
        "output": "REDIS_URL",
    }
    described = Settings.describe()
    required = {v["env"] for v in described if v["default"] is None}
    assert required <= set(variables)  # every required setting is wired or set in Railway
    for v in described:
        if v["secret"] and v["env"] in variables:
            assert variables[v["env"]]["type"] in {"reference", "preserve"}, v["env"]
