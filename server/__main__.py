"""`python -m server`: the web process, on 0.0.0.0:$PORT."""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

from sanic import Sanic
from sanic.exceptions import SanicException
from sanic.worker.loader import AppLoader

from core.settings import Settings, SettingsError

_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def main() -> None:
    try:
        settings = Settings.from_env(process="web")
    except SettingsError as exc:
        sys.exit(f"config error: {exc}")
    # Before the app (and prometheus_client) is imported: the multiprocess mode is chosen then.
    created = prepare_multiproc_dir(settings.web_workers)
    loader = AppLoader(factory=_app)
    app = loader.load()
    app.prepare(
        host="0.0.0.0",  # noqa: S104 - Railway routes to the container's port
        port=settings.port,
        workers=settings.web_workers,
        single_process=settings.web_workers == 1,
        # JSON lines through core/logs.py, without query strings. They are INFO lines:
        # above INFO, Sanic would build each one (the full URL, ~8% of a webhook POST's CPU)
        # only for the logger to drop it.
        access_log=settings.log_level in ("DEBUG", "INFO"),
        motd=False,
    )
    try:
        if settings.web_workers == 1:
            app.after_server_start(_first_stop_signal_only)
            Sanic.serve_single(primary=app)  # no worker manager: less memory, one process
        else:
            # Forked workers share the interpreter and imports with the main process (copy
            # on write) instead of each importing everything again: ~20 MB less per worker.
            Sanic.start_method = "fork"
            gc.freeze()  # the inherited objects stay shared: the collector never touches them
            Sanic.serve(primary=app, app_loader=loader)
    finally:
        if created:
            shutil.rmtree(created, ignore_errors=True)


def prepare_multiproc_dir(
    web_workers: int, environ: MutableMapping[str, str] = os.environ
) -> Path | None:
    """Set PROMETHEUS_MULTIPROC_DIR up before prometheus_client is imported.

    A given directory is emptied: a previous run's values would add up with ours. Without
    one, and with several workers, a fresh temporary directory is made and exported to the
    workers; it is returned so the caller removes it at exit. One worker needs none.
    """
    if given := environ.get(_MULTIPROC_ENV, ""):
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return None
    environ.pop(_MULTIPROC_ENV, None)  # set but empty would still turn multiprocess mode on
    if web_workers == 1:
        return None
    created = Path(tempfile.mkdtemp(prefix="messaging-metrics-"))
    environ[_MULTIPROC_ENV] = str(created)
    return created


def _first_stop_signal_only(app: Sanic) -> None:
    """Only the first SIGTERM (or SIGINT) counts: under the Procfile two arrive (honcho signals
    the process group and `uv run` forwards it again), and a second one would stop the loop
    in the middle of the graceful shutdown, or kill the process once the loop is closed."""
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)  # so closing the loop cannot restore the default
            signal.signal(sig, signal.SIG_IGN)
        app.stop(terminate=False)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)


def _app() -> Sanic:
    """The app; a forked worker inherits the one the main process built, so reuses it."""
    from server.app import APP_NAME, create_app  # after prepare_multiproc_dir, see main()

    try:
        return Sanic.get_app(APP_NAME)
    except SanicException:
        return create_app(name=APP_NAME)


if __name__ == "__main__":
    main()
