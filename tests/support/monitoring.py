"""The shipped monitoring files (ops/monitoring/) as tests read them: every PromQL query of
the alert rules and the Grafana dashboard, and the series and labels each one names."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

MONITORING = Path(__file__).resolve().parents[2] / "ops" / "monitoring"
ALERTS = MONITORING / "alerts.yml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
# Series Prometheus makes itself, not read from a /metrics.
PROMETHEUS_OWN = frozenset({"up"})

_SERIES = re.compile(r"\b(messaging_[a-z0-9_]+|up)\b(?:\{([^}]*)\})?")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_BY = re.compile(r"\bby\s*\(([^)]*)\)")


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def queries() -> dict[str, str]:
    """Every query, by where it is: `alert <name>` or `panel <title> <refId>`."""
    found = {f"alert {r['alert']}": r["expr"] for r in alert_rules()}
    for p in panels():
        for t in p["targets"]:
            found[f"panel {p['title']} {t['refId']}"] = t["expr"]
    return found


def as_promql(expr: str) -> str:
    """A dashboard query with Grafana's variables replaced, as Prometheus would get it."""
    return expr.replace("$__rate_interval", "5m")


def series_named(expr: str) -> dict[str, set[str]]:
    """Each series a query reads, with the labels its matchers name."""
    named: dict[str, set[str]] = {}
    for name, matchers in _SERIES.findall(expr):
        named.setdefault(name, set()).update(_MATCHER.findall(matchers))
    return named


def grouped_by(expr: str) -> set[str]:
    """The labels of every `by (...)` in a query."""
    return {label.strip() for group in _BY.findall(expr) for label in group.split(",") if label}
