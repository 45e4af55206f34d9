"""`/docs` in a real headless browser with no network but the service: Chromium loads the
page under its own Content-Security-Policy, Swagger UI (served by the service) fetches
`/openapi.json` and renders its operations. A screenshot is taken too (one is kept in the
repository as docs/api-reference.png).

Chromium comes from the system packages (`apt-get install chromium`); `.ci/run` installs it
and sets REQUIRE_BROWSER=1, so CI never skips this. Elsewhere, without Chromium, it is
skipped with that reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Stack

pytestmark = pytest.mark.timeout(120)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and not os.environ.get("REQUIRE_BROWSER"):
    pytest.skip("no Chromium here (apt-get install chromium)", allow_module_level=True)


def _chromium(tmp: Path, url: str, *action: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium that can reach 127.0.0.1 only: every other host fails to resolve."""
    assert CHROMIUM, "REQUIRE_BROWSER is set but Chromium is not installed"
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--user-data-dir={tmp / 'profile'}",
            "--window-size=1280,1600",
            "--virtual-time-budget=15000",
            *action,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )


async def test_the_reference_renders_its_operations_offline(stack: Stack, tmp_path: Path):
    url = f"{stack.api}/docs"
    dom = await asyncio.to_thread(_chromium, tmp_path, url, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert 'class="swagger-ui' in page, page[:2000]  # Swagger UI ran (CSP allowed it)
    for shown in (
        "Send a message",  # an operation's summary, from /openapi.json
        "/api/v1/messages/send/",
        "/api/v1/messages/status/{message_id}/",
        "/webhooks/whatsapp/",
        "Mark an inbound message read",
    ):
        assert shown in page, f"{shown!r} is not on the rendered page"
    shot = tmp_path / "api-reference.png"
    taken = await asyncio.to_thread(_chromium, tmp_path, url, f"--screenshot={shot}")
    assert taken.returncode == 0 and shot.stat().st_size > 20_000, taken.stderr[-2000:]
