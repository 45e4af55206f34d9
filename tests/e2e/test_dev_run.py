"""The README's first command, `python -m scripts.dev`, as a newcomer runs it: it comes up,
prints where everything is, writes every variable to `.data/dev/env`, and every shell line of
the README and docs/ works as pasted against it (those marked `# production` are listed, not
run). A process that exits is restarted; one can be run by hand from the env file alone.
The run checks the service window (SERVICE_WINDOW_CHECK=true), as a business would.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, Services
from tests.e2e.test_loop import eventually
from tests.support.dev_run import RUN_FILE, DevRun, dev_run
from tests.support.doc_lines import doc_lines, results, script

pytestmark = pytest.mark.timeout(150)
REDIS_ERROR = re.compile(r"^(\(error\) )?(ERR|NOGROUP|WRONGTYPE)", re.M)
# What a second shell has: the env file brings the rest.
BARE_ENV = {
    "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    **{k: v for k, v in os.environ.items() if k in ("HOME", "LANG")},
}


@pytest.fixture(scope="module")
async def dev(services: Services) -> AsyncIterator[DevRun]:
    async with dev_run(services) as run:
        yield run


def _run_file() -> dict[str, str]:
    return {
        name: shlex.split(value)[0]
        for name, value in re.findall(r"^(\w+)=(.*)$", RUN_FILE.read_text(), re.M)
    }


async def test_the_banner_says_where_everything_is(dev: DevRun):
    assert dev.banner["REDIS_URL"] == f"redis://127.0.0.1:{dev.env['DEV_REDIS_PORT']}/0"
    assert dev.banner["DATABASE_URL"].startswith("postgresql://")
    assert dev.banner["health token"].startswith("health-")
    metrics_url = f"http://127.0.0.1:{dev.env['WORKER_METRICS_PORT']}/metrics"
    assert dev.banner["worker metrics"].startswith(metrics_url)
    assert "XINFO GROUPS 'messaging:outbound:{106540352242922}'" in dev.banner["redis-cli"]
    cli = await asyncio.to_thread(
        subprocess.run, shlex.split(dev.banner["redis-cli"]), capture_output=True, text=True
    )
    assert cli.returncode == 0 and "senders" in cli.stdout, cli.stdout + cli.stderr
    headers = {"Authorization": f"Bearer {dev.banner['health token']}"}
    async with httpx.AsyncClient(timeout=10) as client:
        metrics = await client.get(metrics_url, headers=headers)
    assert metrics.status_code == 200 and "messaging_" in metrics.text


def test_the_env_file_holds_every_variable_and_the_docs_names(dev: DevRun):
    """The secrets too, and `API_KEY` / `HEALTH_TOKEN` for the docs' curls; owner-only."""
    values = _run_file()
    needed = {
        "DATABASE_URL", "REDIS_URL", "PORT", "WORKER_METRICS_PORT", "MESSAGING_SERVICE_API_KEY",
        "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_VERIFY_TOKEN",
        "WHATSAPP_APP_SECRET", "WHATSAPP_API_BASE_URL", "WHATSAPP_BUSINESS_ACCOUNT_ID",
        "HUB_WEBHOOK_URL", "HUB_WEBHOOK_SECRET", "HEALTH_CHECK_TOKENS", "API_KEY", "HEALTH_TOKEN",
    }  # fmt: skip
    assert needed <= set(values), needed - set(values)
    assert values["API_KEY"] == values["MESSAGING_SERVICE_API_KEY"].split(",")[0]
    assert oct(RUN_FILE.stat().st_mode & 0o777) == "0o600"


def _banner_curls(output: list[str]) -> list[str]:
    """The banner's curl commands, each joined from its continued lines."""
    text = "".join(output)
    banner = text[text.rindex("messaging service is up at") : text.index("operator CLI:")]
    joined = re.sub(r"\\\n\s*", "", banner)
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("curl ")]


async def test_the_banners_curls_show_each_feature(dev: DevRun):
    """The contact writes first, so the free-form send finds the window open (the run has
    SERVICE_WINDOW_CHECK=true), a send from each number (a template from the second), and the
    window opens on the number written to."""
    curls = _banner_curls(dev.output)
    assert "/_sim/inbound" in curls[0], "the contact writes before the first send"
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

    assert (await run(inbound))["wamid"].startswith("wamid.")

    async def opened() -> dict | None:
        body = await run(window)
        return body if body["service_window"]["open"] else None

    assert (await eventually(opened))["phone_number_id"] == "106540352242922"
    accepted = [await run(c) for c in sends]
    assert [a["phone_number_id"] for a in accepted] == ["106540352242922", "106540352242923"]


async def test_every_documented_shell_line_works_against_the_local_run(dev: DevRun, capsys):
    lines = doc_lines(ROOT)
    local = [line for line in lines if not line.production]
    skipped = [line for line in lines if line.production]
    assert len(local) >= 30, "the docs' shell lines were not found"
    assert all(line.production for line in lines if re.search(r"(^|\s)railway ", line.command))
    # This test puts the venv on PATH; a reader's shell does not: Python runs through uv.
    bare = [line for line in local if re.search(r"(?<!uv run )\bpython3? -m ", line.command)]
    assert not bare, f"give these `uv run`: {bare}"
    ports = {"8000": dev.env["PORT"], "8025": dev.env["SIM_PORT"]}
    ports["9100"] = dev.env["WORKER_METRICS_PORT"]
    await _contact_writes(dev)  # the README's free-form send needs the window open
    before = set(ROOT.iterdir())
    try:
        done = await asyncio.to_thread(
            subprocess.run,
            ["bash", "-c", script(local, str(RUN_FILE), ports)],
            cwd=ROOT,
            env=BARE_ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
        )
    finally:
        for path in set(ROOT.iterdir()) - before:  # what the lines wrote (a download)
            path.unlink()
    outcomes = results(done.stdout)
    assert len(outcomes) == len(local), done.stdout
    failed = [
        f"{line}\n  -> exit {code}: {out[-600:]}"
        for line, (code, out) in zip(local, outcomes, strict=True)
        if code or REDIS_ERROR.search(out)
    ]
    assert not failed, "\n\n".join(failed)
    with capsys.disabled():
        print(f"\n{len(local)} documented lines ran; production-only, not run:")
        print("\n".join(f"  {line}" for line in skipped))


async def _contact_writes(dev: DevRun, number: str = "106540352242922") -> None:
    """The README's contact writes to `number`, as the banner's first curl has them do."""
    async with httpx.AsyncClient(timeout=10) as client:
        inbound = {"from": "+4915112345678", "text": "Hi!", "phone_number_id": number}
        await client.post(f"http://127.0.0.1:{dev.env['SIM_PORT']}/_sim/inbound", json=inbound)

        async def opened() -> bool:
            r = await client.get(
                f"{dev.banner['url']}/api/v1/contacts/4915112345678/",
                params={"phone_number_id": number},
                headers={"Api-Key": dev.banner["API key"]},
            )
            return r.json()["service_window"]["open"]

        await eventually(opened)


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


async def test_the_usage_curl_counts_what_was_sent(dev: DevRun):
    [usage] = [c for c in _banner_curls(dev.output) if "/api/v1/usage/" in c]
    done = await asyncio.to_thread(
        subprocess.run, ["bash", "-c", usage], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert {"totals", "by_category", "by_phone_number", "by_caller"} <= set(body), body


async def test_the_template_catalog_curl_lists_the_simulators_templates(dev: DevRun):
    [curl] = [
        line.strip()
        for line in dev.output
        if line.strip().startswith("curl ") and "/api/v1/templates/" in line
    ]

    async def synced() -> list[dict] | None:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.get(curl.split()[2], headers={"Api-Key": dev.banner["API key"]})
        return r.json()["templates"] if r.status_code == 200 else None

    names = {t["name"] for t in await eventually(synced, timeout_s=45)}  # sync retries 1, 2, 4.. s
    assert {"order_update", "delivery_photo"} <= names


async def test_a_worker_runs_by_hand_from_the_env_file_alone(dev: DevRun):
    """A second shell: `set -a; . .data/dev/env; set +a`, then `python -m consumers` (its
    metrics port off: the run's worker holds it)."""
    command = f"set -a; . {shlex.quote(str(RUN_FILE))}; set +a; exec python -m consumers"
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", command, cwd=ROOT, env={**BARE_ENV, "WORKER_METRICS_PORT": "0"},
        stderr=asyncio.subprocess.STDOUT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    seen = []
    async with asyncio.timeout(30):
        while b"worker started" not in (line := await proc.stdout.readline()):
            assert line, b"".join(seen).decode()
            seen.append(line)
    proc.send_signal(signal.SIGTERM)
    await proc.stdout.read()
    assert await proc.wait() == 0


async def test_a_crashed_worker_is_restarted_and_sends_again(dev: DevRun):
    [first] = dev.pids("worker")[-1:]
    os.killpg(first, signal.SIGKILL)

    async def restarted() -> int | None:
        later = [pid for pid in dev.pids("worker") if pid != first]
        return later[-1] if later else None

    assert await eventually(restarted)
    assert any("worker exited (rc=" in line and "restarting in" in line for line in dev.output)
    await _contact_writes(dev)  # the restarted worker handles the webhook too
    headers = {"Api-Key": dev.banner["API key"]}
    async with httpx.AsyncClient(base_url=dev.banner["url"], timeout=10) as client:
        r = await client.post(
            "/api/v1/messages/send/",
            headers=headers,
            json={"to": "+4915112345678", "type": "text", "text": {"body": "after the crash"}},
        )
        assert r.status_code == 202, r.text

        async def sent() -> bool:
            status = await client.get(f"/api/v1/messages/status/{r.json()['id']}/", headers=headers)
            return status.json()["status"] in ("sent", "delivered", "read")

        assert await eventually(sent)
