"""Deployment as Railway and honcho run it: the Dockerfile's and the Procfile's own commands.

No image can be built here (no daemon, no registry), so the Dockerfile is read and its stages
are played on this machine: the build stage's RUN in a directory standing for `/app` (with
`UV_OFFLINE=1`: the suite itself runs under uv, so the locked wheels are in its cache), the
final stage's COPYs into another, then its CMD and its labelled worker and release commands
with its ENV. The Procfile's lines run through `/bin/sh -c`, as honcho runs them. Each set
migrates a fresh database, serves `/ping/` on the given $PORT, sends a message through the
worker to the Meta simulator, and stops on SIGTERM within SHUTDOWN_TIMEOUT_S.

The configuration docs are checked here too: `.env.example` and the table of
docs/configuration.md are generated from `core/settings.py` (`python -m scripts.config_docs`)
and must be current.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import asyncpg
import httpx
import pytest
from honcho.environ import parse as parse_dotenv
from honcho.environ import parse_procfile

from core.settings import Settings
from harness.stack import new_stack, redis_db_of, wait_until_up, with_database, with_redis_db
from scripts import config_docs
from tests.conftest import ROOT, Services, new_recipient
from tests.e2e.test_loop import eventually

pytestmark = pytest.mark.timeout(120)

SHUTDOWN_TIMEOUT_S = 5
Stage = list[tuple[str, str]]  # (INSTRUCTION, arguments)


def dockerfile_stages(text: str) -> list[Stage]:
    """Instructions per stage, continuation lines joined, comments dropped."""
    stages: list[Stage] = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, args = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), args.strip()))
    return stages


def _all(stage: Stage, instruction: str) -> list[str]:
    return [args for name, args in stage if name == instruction]


def _pairs(args: str) -> dict[str, str]:
    """`A=1 B="x y"` (ENV, LABEL) as a dict."""
    return dict(part.split("=", 1) for part in shlex.split(args))


STAGES = dockerfile_stages((ROOT / "Dockerfile").read_text())
BUILD, FINAL = STAGES[0], STAGES[-1]
LABELS = {k: v for args in _all(FINAL, "LABEL") for k, v in _pairs(args).items()}


def test_the_image_is_conventional():
    assert _all(FINAL, "FROM")[0].endswith("-slim")
    copies = _all(BUILD, "COPY")
    assert copies.index("pyproject.toml uv.lock ./") == len(copies) - 1  # deps before code
    assert any("uv sync --locked --no-dev" in run for run in _all(BUILD, "RUN"))
    assert all(not c.startswith("--from=ghcr") for c in _all(FINAL, "COPY"))  # no uv
    assert all(run.split()[0] == "useradd" for run in _all(FINAL, "RUN"))  # no apt, no gcc
    names = [name for name, _ in FINAL]
    assert names.index("USER") < names.index("CMD") and _all(FINAL, "USER") != ["root"]
    assert shlex.split(_all(FINAL, "CMD")[-1].strip("[]").replace(",", " ")) == [
        "python",
        "-m",
        "server",
    ]


def test_dockerignore_keeps_tests_caches_and_secrets_out():
    patterns = (ROOT / ".dockerignore").read_text().split()
    for kept_out in (".env", ".git", ".venv", ".data", "tests", "**/__pycache__", ".pytest_cache"):
        assert kept_out in patterns


def _image(tmp: Path) -> tuple[Path, dict[str, str], dict[str, list[str]]]:
    """The final stage on disk: (its WORKDIR, its ENV, its commands by Procfile name)."""
    build, final = tmp / "build", tmp / "final"
    env = {**os.environ, "PATH": _path_with_uv(), "UV_OFFLINE": "1"}
    workdir = build
    for name, args in BUILD[1:]:
        if name == "ENV":
            env |= {k: _on(build, v) for k, v in _pairs(args).items()}
        elif name == "WORKDIR":
            workdir = Path(_on(build, args))
            workdir.mkdir(parents=True)
        elif name == "COPY" and not args.startswith("--from="):  # the uv binary is here already
            for source in args.split()[:-1]:
                shutil.copy(ROOT / source, workdir)
        elif name == "RUN":
            command = re.sub(r"--mount=\S+\s*", "", args)
            subprocess.run(command, shell=True, cwd=workdir, env=env, check=True)  # noqa: S602
    image_env: dict[str, str] = {}
    for name, args in FINAL[1:]:
        if name == "ENV":
            image_env |= {k: _on(final, v) for k, v in _pairs(args).items()}
        elif name == "WORKDIR":
            workdir = Path(_on(final, args))
        elif name == "COPY":
            source, target = args.split()[-2:]
            src = Path(_on(build, source)) if args.startswith("--from=build") else ROOT / source
            dst = Path(_on(final, target)) if target.startswith("/") else workdir / target
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(src, dst, symlinks=True, ignore=ignore)
    image_env["PATH"] = image_env["PATH"].replace("$PATH", os.environ["PATH"])
    cmd = shlex.split(_all(FINAL, "CMD")[-1].strip("[]").replace(",", " "))
    commands = {
        "release": shlex.split(LABELS["service.release.command"]),
        "web": cmd,
        "worker": shlex.split(LABELS["service.worker.command"]),
    }
    return workdir, image_env, commands


def _path_with_uv() -> str:
    """PATH, with uv on it when the suite runs as `python3 -m uv run pytest`."""
    path = os.environ["PATH"]
    if shutil.which("uv") is None and os.environ.get("UV"):
        path = f"{Path(os.environ['UV']).parent}:{path}"
    return path


def _on(root: Path, value: str) -> str:
    """`/app/...` inside the image -> the same path under `root` on this machine."""
    return re.sub(r"(^|:)/app", lambda m: m.group(1) + str(root / "app"), value)


@pytest.fixture
async def deploy_env(services: Services, tmp_path: Path):
    """A fresh, unmigrated database and Redis db, the Meta simulator and the Hub sink."""
    name = f"messaging_deploy_{os.getpid()}"
    admin = await asyncpg.connect(services.postgres_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.execute(f'CREATE DATABASE "{name}"')
    redis_url = with_redis_db(services.redis_url, (redis_db_of(services.redis_url) + 2) % 16)
    stack = new_stack(with_database(services.postgres_url, name), redis_url, tmp_path)
    stack.env["SHUTDOWN_TIMEOUT_S"] = str(SHUTDOWN_TIMEOUT_S)
    stack.start("sim", "-m", "simulator.meta")
    stack.start("sink", "-m", "simulator.hub")
    try:
        await wait_until_up(f"{stack.sim}/_sim/stats")
        yield stack
    finally:
        stack.stop_all()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _release_web_worker(
    stack, commands, cwd: Path, env: dict[str, str], leader_codes: set[int]
) -> None:
    """Release, then web and worker: serve, consume, stop within SHUTDOWN_TIMEOUT_S."""
    env = {**stack.env, **env}
    release = functools.partial(subprocess.run, check=True, timeout=60)
    await asyncio.to_thread(release, commands["release"], cwd=cwd, env=env)
    log_path = stack.logs / "deploy.log"
    procs = {name: _start(commands[name], cwd, env, log_path) for name in ("web", "worker")}
    try:
        await wait_until_up(f"http://127.0.0.1:{env['PORT']}/ping/")
        await _send_until_meta_has_it(stack)
    finally:
        codes, elapsed = await asyncio.to_thread(_terminate, procs.values())
    log = log_path.read_text()
    assert set(codes) <= leader_codes, log[-3000:]
    assert elapsed <= SHUTDOWN_TIMEOUT_S, log[-3000:]
    assert "worker stopped cleanly=True" in log and "Traceback" not in log, log[-3000:]


async def _send_until_meta_has_it(stack) -> None:
    """The web accepts a message, the worker sends it: the simulator has it."""
    to = new_recipient()
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(
            f"{stack.api}/api/v1/messages/send/",
            json={"to": to, "type": "text", "text": {"body": "deployed"}},
            headers=stack.headers(),
        )
        assert r.status_code == 202, r.text

        async def reached_meta() -> bool:
            r = await client.get(f"{stack.sim}/_sim/messages", params={"to": to})
            return bool(r.json()["messages"])

        await eventually(reached_meta)
    await asyncio.sleep(0.2)  # status webhooks in flight: SIGTERM arrives mid-work


def _start(command: list[str], cwd: Path, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    # Its own process group, signalled whole: as honcho, Heroku-style hosts and `docker stop`
    # with an init process do.
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=log, start_new_session=True
        )


def _terminate(procs: Iterable[subprocess.Popen]) -> tuple[list[int | None], float]:
    """SIGTERM each group; (leaders' exit codes, seconds until every process had gone)."""
    procs = list(procs)
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
    started = time.monotonic()
    deadline = started + SHUTDOWN_TIMEOUT_S + 10
    codes: list[int | None] = []
    for proc in procs:
        try:
            codes.append(proc.wait(max(deadline - time.monotonic(), 0)))
        except subprocess.TimeoutExpired:
            codes.append(None)
    while any(_alive(p.pid) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)  # a leader's children (uv's python) may outlive it briefly
    elapsed = time.monotonic() - started
    for proc in procs:
        if _alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return codes, elapsed


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


async def test_the_images_commands_release_serve_consume_and_stop(deploy_env, tmp_path):
    workdir, image_env, commands = await asyncio.to_thread(_image, tmp_path / "image")
    assert not (workdir / "tests").exists() and (workdir / ".venv/bin/python").exists()
    env = {**image_env, "PORT": deploy_env.env["PORT"]}  # Railway sets PORT over the image's
    await _release_web_worker(deploy_env, commands, workdir, env, leader_codes={0})


async def test_the_procfiles_commands_release_serve_consume_and_stop(deploy_env):
    processes = parse_procfile((ROOT / "Procfile").read_text()).processes
    assert set(processes) == {"release", "web", "worker"}
    commands = {name: ["/bin/sh", "-c", line] for name, line in processes.items()}
    # The leader is `sh`, killed by the SIGTERM (-15); the commands it ran must still
    # finish cleanly (the worker says so) and in time.
    env = {"PATH": _path_with_uv()}
    await _release_web_worker(deploy_env, commands, ROOT, env, leader_codes={0, -signal.SIGTERM})


def test_env_example_and_settings_table_are_generated_from_the_settings():
    assert config_docs.main(["--check"]) == 0, "run: uv run python -m scripts.config_docs"


def test_settings_table_and_env_example_list_every_variable_with_its_default():
    """Read back independently of the generator: names, required-ness and defaults."""
    expected = {v["env"]: v["default"] for v in Settings.describe()}
    table = (ROOT / "docs" / "configuration.md").read_text()
    name = r"[A-Z0-9_]+(?:<phone_number_id>)?"  # a per-number variable's pattern, as is
    rows = re.findall(
        rf"^\| `({name})` \| (yes|no|the web|the worker) \| `?([^|`]*)`? \|", table, re.M
    )
    assert {name: None if req != "no" else default for name, req, default in rows} == expected
    read_by = {v["env"]: v["read_by"] for v in Settings.describe()}
    assert [r[0] for r in rows if r[1] == "the web"] == [
        n for n, by in read_by.items() if by == ("web",) and expected[n] is None
    ]
    example = (ROOT / ".env.example").read_text()
    required = dict(re.findall(r"^([A-Z0-9_]+)=(.*)$", example, re.M))
    optional = dict(re.findall(rf"^# ({name})=(.*)$", example, re.M))
    assert required == {name: "" for name, default in expected.items() if default is None}
    assert optional == {name: d for name, d in expected.items() if d is not None}
    filled = re.sub(r"^([A-Z0-9_]+)=$", r"\1=x", example, flags=re.M)
    assert set(parse_dotenv(filled)) == set(required)  # what `scripts.dev` reads of a copy


def test_a_new_setting_without_regenerated_docs_is_caught(monkeypatch):
    extra = {"env": "NEW_KNOB_S", "default": "1", "help": "a new knob", "secret": False}
    monkeypatch.setattr(Settings, "describe", classmethod(lambda cls: [extra]))
    assert config_docs.main(["--check"]) == 1


async def test_a_repeated_sigterm_does_not_cut_the_web_shutdown_short(deploy_env):
    """Under the Procfile the web gets two (honcho signals the group, `uv run` forwards);
    when they come is chance, so a burst covers the shutdown from start to end."""
    log_path = deploy_env.logs / "web.log"
    proc = _start([sys.executable, "-m", "server"], ROOT, deploy_env.env, log_path)
    try:
        await wait_until_up(f"{deploy_env.api}/ping/")
        await eventually(lambda: _logged(log_path, "Worker ready"))  # its handlers are set
    finally:
        for _ in range(10):  # one of them lands in the middle of the shutdown
            proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.003)
        code = await asyncio.to_thread(_wait_or_kill, proc)
    assert code == 0 and "Traceback" not in log_path.read_text(), log_path.read_text()[-2000:]


def _wait_or_kill(proc: subprocess.Popen) -> int | None:
    try:
        return proc.wait(SHUTDOWN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None


async def _logged(path: Path, line: str) -> bool:
    return line in await asyncio.to_thread(path.read_text)
