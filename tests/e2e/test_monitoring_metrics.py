"""Every series the alert rules and the Grafana dashboard (ops/monitoring/) read is served by
a running web or worker, with the labels they match and group on, once a little traffic
has gone through: a message read, one Meta rejects, one Meta answers 503 first, and a Hub
delivery retried."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.stack import wait_until_up
from tests.conftest import Stack, new_recipient
from tests.e2e.test_loop import client, eventually, scenario, send, text_message, until_status
from tests.e2e.test_metrics import _token, _worker_url
from tests.support.monitoring import PROMETHEUS_OWN, grouped_by, queries, series_named

__all__ = ["client"]  # the fixture, imported so pytest finds it here
pytestmark = pytest.mark.timeout(120)

# Counters of rare events, declared on /metrics (HELP and TYPE) but without a sample until
# one happens: a sending pause would hold the session's number, a foreign status needs
# STATUS_HOLD_S to run out.
RARE = frozenset({"messaging_send_pauses_total", "messaging_foreign_statuses_total"})


class Served:
    """What one or more /metrics answers hold: sample names with their labels, and the
    series their HELP/TYPE lines declare."""

    def __init__(self, *texts: str) -> None:
        self.labels: dict[str, set[str]] = {}
        self.declared: set[str] = set()
        for text in texts:
            for family in text_string_to_metric_families(text):
                self.declared |= _sample_names(family.name, family.type)
                for s in family.samples:
                    self.labels.setdefault(s.name, set()).update(s.labels)


def _sample_names(name: str, kind: str) -> set[str]:
    if kind == "counter":
        return {f"{name}_total"}
    if kind == "histogram":
        return {f"{name}_{suffix}" for suffix in ("bucket", "count", "sum")}
    return {name}


async def _metrics(client: httpx.AsyncClient, stack: Stack, url: str) -> str:
    r = await client.get(url, headers={"Authorization": f"Bearer {_token(stack)}"})
    assert r.status_code == 200, r.text
    return r.text


async def _traffic(client: httpx.AsyncClient, stack: Stack) -> None:
    ok, rejected, retried = new_recipient(), new_recipient(), new_recipient()
    undeliverable = {"status": 400, "code": 131026, "title": "Message undeliverable"}
    await scenario(client, stack, to=rejected, responses=[undeliverable])
    await scenario(client, stack, to=retried, responses=[{"status": 503, "code": 131016}])
    r = await client.post(f"{stack.sink}/_sink/fail", json={"count": 1, "status": 503})
    assert r.status_code < 300, r.text
    ids = {}
    for to, end in ((ok, "read"), (rejected, "failed"), (retried, "read")):
        r = await send(client, stack, text_message(to))
        assert r.status_code == 202, r.text
        ids[r.json()["id"]] = end
    for message_id, end in ids.items():
        await until_status(client, stack, message_id, end)


async def test_every_series_the_rules_and_the_dashboard_read_is_served(client, stack):
    await wait_until_up(_worker_url(stack))
    await _traffic(client, stack)

    async def scraped() -> Served | None:
        web = await _metrics(client, stack, f"{stack.api}/metrics")
        worker = await _metrics(client, stack, _worker_url(stack))
        served = Served(web, worker)
        return served if "messaging_hub_deliveries_total" in served.labels else None

    served = await eventually(scraped)
    missing, unmatched = [], []
    for where, expr in queries().items():
        named = series_named(expr)
        for name, matched in named.items():
            if name in PROMETHEUS_OWN:
                continue
            if name not in served.labels and not (name in RARE and name in served.declared):
                missing.append(f"{where}: {name}")
            elif name in served.labels and not matched <= served.labels[name]:
                unmatched.append(f"{where}: {name} has no {matched - served.labels[name]}")
        known = set().union(*(served.labels.get(n, set()) for n in named), {"le"})
        if not any(n in RARE | PROMETHEUS_OWN for n in named):
            unmatched += [f"{where}: by {label}" for label in grouped_by(expr) - known]
    assert not missing, missing
    assert not unmatched, unmatched


def test_the_rules_and_the_dashboard_name_series_of_both_processes():
    """A guard on the check above: it reads the queries it is meant to."""
    names = {n for expr in queries().values() for n in series_named(expr)}
    assert {"messaging_messages_accepted_total", "messaging_stream_length"} <= names  # web
    assert {"messaging_meta_request_seconds_bucket", "messaging_hub_deliveries_total"} <= names
    assert "messaging_workers_live" in names and "up" in names
