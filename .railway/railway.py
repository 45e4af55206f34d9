"""The whole Railway deployment as code: `railway config plan`, then `railway config apply`.

PostgreSQL and Redis, and one image (the repository's Dockerfile) run as two services:
`web` (the image's default command, `python -m server`; migrations before each deploy) and
`worker` (`python -m consumers`). DATABASE_URL and REDIS_URL are references to the two
databases; every other setting the service needs is preserved: set it once per environment
in Railway (`railway variables --set` or the dashboard), never in this file. The file is the
whole environment: name every variable the services read here (preserved when its value is
set in Railway), and treat one it does not name as one `apply` may remove (`plan` shows it).
The order of a first deploy: docs/deploy.md. The variables: docs/configuration.md.
tests/e2e/test_railway.py evaluates this file.
"""

from __future__ import annotations

import os

from railway_sdk import (
    Project,
    RailwayContext,
    define_railway,
    github,
    postgres,
    preserve,
    project,
    redis,
    service,
)

# The repository Railway builds from (this one); override for a fork.
REPO = os.environ.get("MESSAGING_SERVICE_REPO", "open-mind/messaging-service")
DRAINING_S = 30  # SIGTERM, then SIGKILL after this; SHUTDOWN_TIMEOUT_S (20) fits inside
# The web's own names, as Railway gives them to each deployment: plain http is redirected to
# the public one; the private one is how Prometheus reaches /metrics. The healthcheck
# (`healthcheck.railway.app`) is let through on /ping/ alone.
HOSTS = {
    "PUBLIC_HOST": "${{RAILWAY_PUBLIC_DOMAIN}}",
    "ALLOWED_HOSTS": "${{RAILWAY_PUBLIC_DOMAIN}},${{RAILWAY_PRIVATE_DOMAIN}}",
}
# Set in Railway per environment; their values never appear here.
SET_IN_RAILWAY = (
    "MESSAGING_SERVICE_API_KEY",
    "WHATSAPP_PHONE_NUMBER_ID",
    "WHATSAPP_ACCESS_TOKEN",
    "WHATSAPP_VERIFY_TOKEN",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_BUSINESS_ACCOUNT_ID",  # the template catalog (unset: template sends unchecked)
    "HUB_WEBHOOK_URL",
    "HUB_WEBHOOK_SECRET",
    "HEALTH_CHECK_TOKENS",
)
# Business numbers with a token or a send rate of their own: their per-number variables
# (`WHATSAPP_ACCESS_TOKEN_<id>`, `SEND_RATE_PER_S_<id>`) are preserved too. List them here.
OWN_SETTINGS_NUMBERS: tuple[str, ...] = ()
PER_NUMBER = ("WHATSAPP_ACCESS_TOKEN", "SEND_RATE_PER_S")
# Sanic workers: the service's vCPUs. A SIGTERM while they start (the ~2 s before each reports
# ready) leaves the main process exiting ~33 s later (sanic 25.12), past DRAINING_S: Railway
# SIGKILLs it, after the workers have stopped serving; nothing is lost (docs/deploy.md).
WEB_WORKERS = "2"


@define_railway
def main(ctx: RailwayContext | None = None) -> Project:
    db = postgres("postgres")
    cache = redis("redis")
    env = {
        "DATABASE_URL": db.env.DATABASE_URL,
        "REDIS_URL": cache.env.REDIS_URL,
        **{name: preserve() for name in SET_IN_RAILWAY},
        **{f"{base}_{n}": preserve() for base in PER_NUMBER for n in OWN_SETTINGS_NUMBERS},
    }
    dockerfile = {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"}
    image = {"source": github(REPO), "build": dockerfile}
    web = service(
        "web",
        **image,
        preDeploy="python -m db.migrate",
        healthcheck="/ping/",
        healthcheckTimeout=300,
        deploy={"drainingSeconds": DRAINING_S, "restartPolicyType": "ON_FAILURE"},
        env={**env, **HOSTS, "SECURE_SSL_REDIRECT": "true", "WEB_WORKERS": WEB_WORKERS},
    )
    worker = service(
        "worker",
        **image,
        start="python -m consumers",
        deploy={"drainingSeconds": DRAINING_S, "restartPolicyType": "ON_FAILURE"},
        env={**env, "WORKER_METRICS_PORT": "9100"},
    )
    return project("messaging-service", resources=[db, cache, web, worker])
