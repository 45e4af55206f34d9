"""`/metrics` of web and worker during end-to-end runs: the series move with the traffic,
a token is required, and several Sanic workers report one sum."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from consumers.worker_metrics import start_server
from core.exposition import Snapshot, render
from core.names import SEND_PAUSED_KEY, dead_letter_stream, groups
from harness.stack import free_port, wait_until_up
from server.__main__ import prepare_multiproc_dir
from server.routes.metrics import redis_families
from tests.conftest import Stack, new_recipient
from tests.e2e.test_loop import client, eventually, scenario, send, text_message, until_status
from tests.support.settings import NUMBER, OUTBOUND

__all__ = ["client"]  # the fixture, imported so pytest finds it here
pytestmark = pytest.mark.timeout(120)


class Samples:
    """One scrape, parsed; `get` sums the samples whose labels include the given ones."""

    def __init__(self, text: str) -> None:
        self.samples = [s for f in text_string_to_metric_families(text) for s in f.samples]

    def get(self, name: str, **labels: str) -> float:
        found = [s.value for s in self._matching(name, labels)]
        assert found, f"no sample {name}{labels}"
        return sum(found)

    def grew(self, before: Samples, name: str, **labels: str) -> float:
        """How much a series grew since `before` (where a labelled series may not exist yet)."""
        return self.get(name, **labels) - (
            before.get(name, **labels) if before.has(name, **labels) else 0
        )

    def has(self, name: str, **labels: str) -> bool:
        return any(True for _ in self._matching(name, labels))

    def _matching(self, name: str, labels: dict[str, str]) -> Iterable:
        return (s for s in self.samples if s.name == name and labels.items() <= s.labels.items())


def _worker_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.env['WORKER_METRICS_PORT']}/metrics"


def _token(stack: Stack) -> str:
    return stack.env["HEALTH_CHECK_TOKENS"].split(",")[1]


async def scrape(client: httpx.AsyncClient, stack: Stack, url: str) -> Samples:
    r = await client.get(url, headers={"Authorization": f"Bearer {_token(stack)}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return Samples(r.text)


@pytest.mark.parametrize("process", ["web", "worker"])
async def test_metrics_need_a_health_token(client, stack, process):
    url = f"{stack.api}/metrics" if process == "web" else _worker_url(stack)
    await wait_until_up(url)
    assert (await client.get(url)).status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    assert (await client.get(url, headers=bad)).status_code == 401
    r = await client.get(url, params={"token": _token(stack)})
    assert r.status_code == 200
    assert "messaging_" in r.text


WEB_ONLY = (
    "messaging_messages_accepted",
    "messaging_webhooks_received",
    "messaging_stream_length",
    "messaging_stream_lag",
    "messaging_stream_pending",
    "messaging_redis_up",
)
WORKER_ONLY = (
    "messaging_meta_request_seconds",
    "messaging_hub_delivery_seconds",
    "messaging_hub_deliveries",
    "messaging_rate_limit_",
    "messaging_message_statuses",
    "messaging_messages_parked",
    "messaging_stream_entries",
)


async def test_each_process_exports_only_its_own_series(client, stack):
    """A dashboard on one target never shows the other's series stuck at 0."""
    await wait_until_up(_worker_url(stack))
    web = (await client.get(f"{stack.api}/metrics", params={"token": _token(stack)})).text
    worker = (await client.get(_worker_url(stack), params={"token": _token(stack)})).text
    names = {
        process: {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
        for process, text in (("web", web), ("worker", worker))
    }
    assert not [n for n in names["web"] if n.startswith(WORKER_ONLY)]
    assert not [n for n in names["worker"] if n.startswith(WEB_ONLY)]
    assert any(n.startswith(WEB_ONLY) for n in names["web"])
    assert any(n.startswith(WORKER_ONLY) for n in names["worker"])


async def test_series_follow_an_end_to_end_run(client, stack):
    await wait_until_up(_worker_url(stack))
    web0 = await scrape(client, stack, f"{stack.api}/metrics")
    worker0 = await scrape(client, stack, _worker_url(stack))
    ok, rejected, retried, throttled = (new_recipient() for _ in range(4))
    undeliverable = {"status": 400, "code": 131026, "title": "Message undeliverable"}
    await scenario(client, stack, to=rejected, responses=[undeliverable])
    await scenario(client, stack, to=retried, responses=[{"status": 503, "code": 131016}])
    await scenario(client, stack, to=throttled, responses=[{"status": 429, "code": 130429}])
    r = await client.post(f"{stack.sink}/_sink/fail", json={"count": 1, "status": 503})
    assert r.status_code < 300, r.text
    ids = [(await send(client, stack, text_message(ok, f"n{i}"))).json()["id"] for i in range(3)]
    failed_id = (await send(client, stack, text_message(rejected))).json()["id"]
    for to in (retried, throttled):
        ids.append((await send(client, stack, text_message(to))).json()["id"])
    for message_id in ids:
        await until_status(client, stack, message_id, "read")
    await until_status(client, stack, failed_id, "failed")

    web = await scrape(client, stack, f"{stack.api}/metrics")
    assert web.grew(web0, "messaging_messages_accepted_total", type="text") == 6
    assert web.grew(web0, "messaging_webhooks_received_total") >= 1
    assert web.get("messaging_redis_up") == 1
    for stream, group in groups((NUMBER,)):
        assert web.has("messaging_stream_length", stream=stream)
        assert web.get("messaging_stream_lag", stream=stream, group=group) >= 0
        assert web.get("messaging_stream_pending", stream=stream, group=group) >= 0
        assert web.get("messaging_dead_letter_entries", stream=stream) >= 0
    assert web.get("messaging_paused_seconds", what="sending", phone_number_id=NUMBER) == 0
    assert not web.has("messaging_stream_length", stream=dead_letter_stream(OUTBOUND))

    # 6 messages: 3 + the retried + the throttled reach read (3 Hub events each), 1 fails.
    async def delivered() -> Samples | None:
        w = await scrape(client, stack, _worker_url(stack))
        done = w.grew(worker0, "messaging_hub_deliveries_total", outcome="delivered") >= 16
        return w if done else None

    worker = await eventually(delivered)

    def grew(name: str, **labels: str) -> float:
        return worker.grew(worker0, name, **labels)

    assert grew("messaging_message_statuses_total", status="sent", source="sender") >= 5
    assert grew("messaging_message_statuses_total", status="read", source="meta") >= 5
    assert grew("messaging_messages_failed_total", code="131026") >= 1
    assert grew("messaging_meta_errors_total", code="131026", kind="rejected") >= 1
    assert grew("messaging_meta_errors_total", code="131016", kind="unavailable") >= 1
    assert grew("messaging_meta_errors_total", code="130429", kind="throttled") >= 1
    assert grew("messaging_messages_parked_total", reason="retry") >= 1
    assert grew("messaging_messages_parked_total", reason="throttled") >= 1
    assert grew("messaging_meta_request_seconds_count") >= 8  # two calls for two of them
    assert grew("messaging_meta_request_seconds_sum") > 0
    assert grew("messaging_hub_deliveries_total", outcome="retry") >= 1  # the Hub's 503
    assert grew("messaging_hub_delivery_seconds_count") >= 17
    assert grew("messaging_webhook_events_total", kind="status", type="delivered") >= 5
    assert grew("messaging_stream_entries_total", consumer=f"sender:{NUMBER}", result="acked") >= 8
    assert grew("messaging_rate_limit_wait_seconds_total") >= 0
    assert worker.has("messaging_rate_limit_full_total")
    assert not worker.has("messaging_messages_accepted_total")  # the web's, not the worker's


def _accepted_per_process(directory: Path) -> dict[str, float]:
    """What each web worker counted, from its own file (the scrape shows only the sum)."""
    counts = {}
    for path in directory.glob("counter_*.db"):
        samples = [
            s
            for m in MultiProcessCollector.merge([str(path)], accumulate=False)
            for s in m.samples
            if s.name == "messaging_messages_accepted_total"
        ]
        counts[path.name] = sum(s.value for s in samples)
    return counts


async def _send_fresh(stack: Stack, api: str, to: str) -> None:
    """One send on its own connection, so the kernel may hand it to either worker."""
    async with httpx.AsyncClient(timeout=10) as c:
        r = await c.post(
            f"{api}/api/v1/messages/send/",
            json=text_message(to),
            headers=stack.headers(),
        )
        assert r.status_code == 202, r.text


async def _two_worker_web(stack: Stack, name: str, **env: str) -> str:
    port = free_port()
    stack.start(name, "-m", "server", PORT=str(port), WEB_WORKERS="2", **env)
    api = f"http://127.0.0.1:{port}"
    await wait_until_up(f"{api}/ping/")
    return api


async def test_two_web_workers_report_one_sum(client, stack, tmp_path):
    directory = tmp_path / "prom"
    directory.mkdir()
    stale = directory / "counter_424242.db"
    stale.write_bytes(b"values of a previous run")
    api = await _two_worker_web(stack, "web-multi", PROMETHEUS_MULTIPROC_DIR=str(directory))
    try:
        assert not stale.exists()
        to, sent = new_recipient(), 0
        while sum(1 for n in _accepted_per_process(directory).values() if n) < 2:
            assert sent < 200, f"every send reached one worker: {_accepted_per_process(directory)}"
            await asyncio.gather(*(_send_fresh(stack, api, to) for _ in range(10)))
            sent += 10
        assert sum(_accepted_per_process(directory).values()) == sent
        for _ in range(6):  # whichever worker answers, it reports both workers' sends
            async with httpx.AsyncClient(timeout=10) as fresh:
                web = await scrape(fresh, stack, f"{api}/metrics")
            assert web.get("messaging_messages_accepted_total", type="text") == sent
    finally:
        assert stack.stop("web-multi") == 0


async def test_two_web_workers_get_a_fresh_directory_removed_at_exit(client, stack, tmp_path):
    api = await _two_worker_web(stack, "web-tmp", TMPDIR=str(tmp_path))
    try:
        (directory,) = tmp_path.glob("messaging-metrics-*")
        await asyncio.gather(*(_send_fresh(stack, api, new_recipient()) for _ in range(20)))
        assert sum(_accepted_per_process(directory).values()) == 20
        for _ in range(4):
            async with httpx.AsyncClient(timeout=10) as fresh:
                web = await scrape(fresh, stack, f"{api}/metrics")
            assert web.get("messaging_messages_accepted_total", type="text") == 20
    finally:
        assert stack.stop("web-tmp") == 0
    assert not directory.exists()


def test_an_empty_multiproc_variable_does_not_turn_multiprocess_mode_on():
    env = {"PROMETHEUS_MULTIPROC_DIR": ""}
    assert prepare_multiproc_dir(1, env) is None
    assert env == {}


async def test_stream_gauges_count_backlog_pending_and_dead_letters(redis):
    (stream, group), (other, other_group), _ = groups(("1065",))
    await redis.xgroup_create(stream, group, id="0", mkstream=True)
    ids = [await redis.xadd(stream, {"message_id": str(i)}) for i in range(5)]
    await redis.xreadgroup(group, "c1", {stream: ">"}, count=3)
    await redis.xack(stream, group, ids[0])
    await redis.xdel(stream, ids[0])  # handled, as the runner does: Redis's own lag is gone
    await redis.xadd(dead_letter_stream(stream), {"message_id": "x", "error": "poison"})
    await redis.set(SEND_PAUSED_KEY.format(phone_number_id="1065"), "{}", px=5000)

    families = await redis_families(redis, ("1065",))
    got = Samples(render(Snapshot(families)).decode())
    assert got.get("messaging_redis_up") == 1
    assert got.get("messaging_stream_length", stream=stream) == 4
    assert got.get("messaging_stream_pending", stream=stream, group=group) == 2
    assert got.get("messaging_stream_lag", stream=stream, group=group) == 2
    assert got.get("messaging_dead_letter_entries", stream=stream) == 1
    await redis.xadd(other, {"event_id": "x"}, id="1-0")  # added in 1970, by its id
    old = Samples(render(Snapshot(await redis_families(redis, ("1065",)))).decode())
    assert 0 < old.get("messaging_stream_oldest_entry_age_seconds", stream=stream) < 60
    assert old.get("messaging_stream_oldest_entry_age_seconds", stream=other) > 50 * 365 * 86400
    assert old.get("messaging_stream_oldest_entry_age_seconds", stream=groups(())[-1][0]) == 0
    assert 4 < got.get("messaging_paused_seconds", what="sending", phone_number_id="1065") <= 5
    assert got.get("messaging_paused_seconds", what="hub_deliveries") == 0
    assert got.get("messaging_stream_length", stream=other) == 0
    assert not got.has("messaging_stream_lag", group=other_group)  # no group yet


async def test_a_scrape_says_when_redis_is_down():
    down = Redis.from_url(f"redis://127.0.0.1:{free_port()}", socket_connect_timeout=1)
    try:
        got = Samples(render(Snapshot(await redis_families(down, ("1065",)))).decode())
    finally:
        await down.aclose()
    assert got.get("messaging_redis_up") == 0
    assert not got.has("messaging_stream_length")


async def test_a_worker_metrics_port_in_use_costs_the_metrics_not_the_worker(caplog):
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        settings = SimpleNamespace(
            worker_metrics_port=taken.getsockname()[1], health_check_tokens=()
        )
        assert await start_server(settings) is None
    assert "metrics not served" in caplog.text
