"""ops/monitoring/: the alert rules pass `promtool check rules` and their unit tests
(alerts.test.yml), the example Prometheus configuration loads with them, every dashboard
query parses as PromQL, and every alert tells the on-call engineer what to do.

promtool comes from Debian's `prometheus` package (`apt-get install prometheus`); `.ci/run`
installs it and sets REQUIRE_PROMTOOL=1, so CI never skips this. Elsewhere, without it, the
promtool cases are skipped with that reason. That every series named here is served is
tests/e2e/test_monitoring_metrics.py's question.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.monitoring import (
    ALERTS,
    MONITORING,
    alert_rules,
    as_promql,
    dashboard,
    panels,
    queries,
)

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None and not os.environ.get("REQUIRE_PROMTOOL"),
    reason="no promtool here (apt-get install prometheus)",
)
OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def promtool(*args: str, cwd: Path = MONITORING) -> str:
    assert PROMTOOL, "REQUIRE_PROMTOOL is set but promtool is not installed"
    done = subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@needs_promtool
def test_the_alert_rules_pass_promtool_check() -> None:
    assert f"SUCCESS: {len(alert_rules())} rules found" in promtool("check", "rules", ALERTS.name)


@needs_promtool
def test_the_alert_rules_pass_their_unit_tests() -> None:
    """A stopped sender, an old webhook backlog, Meta's rejections and a paused number fire,
    with their text."""
    assert "SUCCESS" in promtool("test", "rules", "alerts.test.yml")


@needs_promtool
def test_the_example_prometheus_configuration_loads_with_the_rules(tmp_path: Path) -> None:
    for name in ("prometheus.yml", ALERTS.name):
        shutil.copy(MONITORING / name, tmp_path / name)
    (tmp_path / "health-token").write_text("a-health-token\n")
    out = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert f"SUCCESS: {len(alert_rules())} rules found" in out
    jobs = {
        j["job_name"]
        for j in yaml.safe_load((tmp_path / "prometheus.yml").read_text())["scrape_configs"]
    }
    assert jobs == {"messaging-web", "messaging-worker"}  # what MessagingTargetDown names


@needs_promtool
def test_every_dashboard_query_parses_as_promql(tmp_path: Path) -> None:
    """promtool parses recording rules: each panel query becomes one."""
    rules = [
        {"record": f"dashboard:query_{i}", "expr": as_promql(expr)}
        for i, (where, expr) in enumerate(queries().items())
        if where.startswith("panel ")
    ]
    (tmp_path / "dashboard.rules.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )
    out = promtool("check", "rules", "dashboard.rules.yml", cwd=tmp_path)
    assert f"SUCCESS: {len(rules)} rules found" in out


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors for the headings: lowercase, punctuation dropped, spaces to -."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 _-]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_alert_says_how_bad_what_happened_and_where_the_runbook_is() -> None:
    anchors = _anchors(OPERATIONS.read_text())
    names = [r["alert"] for r in alert_rules()]
    assert len(names) == len(set(names))
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        notes = rule["annotations"]
        assert set(notes) == {"summary", "description", "runbook_url"}, rule["alert"]
        page, _, anchor = notes["runbook_url"].partition("#")
        assert page == "docs/operations.md" and anchor in anchors, rule["alert"]
        assert anchor == rule["alert"].lower()


def test_the_dashboard_asks_for_its_prometheus_and_uses_it_everywhere() -> None:
    board = dashboard()
    [variable] = board["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for p in panels():
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"]), p["title"]
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, p["title"]
        assert p["description"], p["title"]
