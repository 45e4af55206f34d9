"""Prometheus exposition shared by web and worker, and the web's multiprocess directory.

Series are defined where they are counted: `server.routes.metrics` (web) and
`consumers.worker_metrics` (worker), so each process registers only its own. With several
Sanic workers (WEB_WORKERS > 1) each worker process writes its values to files in
PROMETHEUS_MULTIPROC_DIR and a scrape, whichever worker answers it, sums them all. That mode
is chosen when prometheus_client is first imported, so `python -m server` prepares the
directory before it imports the app (`server.__main__`); the Sanic workers are spawned
and inherit it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE_LATEST", "Snapshot", "mark_dead", "render"]
_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Snapshot(Collector):
    """Metric families read before the scrape (from Redis, say), exposed as they are."""

    def __init__(self, families: Iterable[Any]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Any]:
        return self.families


def render(*extra: Collector) -> bytes:
    """This process's series (or every web worker's, in multiprocess mode) plus `extra`."""
    registry = CollectorRegistry()
    if os.environ.get(_ENV):
        MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)


def mark_dead(pid: int | None = None) -> None:
    """A stopping web worker drops its live gauges; its counters keep counting in the sum."""
    if os.environ.get(_ENV):
        mark_process_dead(pid or os.getpid())
