"""`python -m server`: the web process, on 0.0.0.0:$PORT."""

from __future__ import annotations

import sys

from sanic import Sanic
from sanic.worker.loader import AppLoader

from server.app import create_app
from server.settings import Settings, SettingsError


def main() -> None:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        sys.exit(f"config error: {exc}")
    loader = AppLoader(factory=create_app)
    app = loader.load()
    app.prepare(
        host="0.0.0.0",  # noqa: S104 - Railway routes to the container's port
        port=settings.port,
        workers=settings.web_workers,
        single_process=settings.web_workers == 1,
        access_log=False,
        motd=False,
    )
    if settings.web_workers == 1:
        Sanic.serve_single(primary=app)  # no worker manager: less memory, one process
    else:
        Sanic.serve(primary=app, app_loader=loader)


if __name__ == "__main__":
    main()
