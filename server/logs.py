"""Log set-up shared by every process: one line per event, level from LOG_LEVEL."""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(level: str) -> None:
    """Idempotent: the web factory runs once per Sanic worker."""
    root = logging.getLogger()
    if not any(getattr(h, "_messaging", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler._messaging = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO; ours are Meta and Hub calls, too many to log.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
