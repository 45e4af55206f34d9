"""Fixtures of the fault suite: its own PostgreSQL and Redis processes (so a test can restart
them), and a fresh stack of real processes per test. The closing note lists every check's
counts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from harness.faults import Servers
from tests.faults.counts import REPORTS
from tests.faults.harness import FaultStack, start_fault_stack


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    s = Servers.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
async def make_stack(
    servers: Servers, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Callable[..., Awaitable[FaultStack]]]:
    """`await make_stack(**env)`: web, worker, simulator and sink on a fresh database."""
    teardowns: list[Callable[[], Awaitable[None]]] = []
    name = "faults_" + re.sub(r"\W", "_", request.node.name)[:40].lower()

    async def make(**env: str) -> FaultStack:
        servers.ensure_running()
        logs = tmp_path_factory.mktemp(name)
        fs, teardown = await start_fault_stack(servers, name, logs, **env)
        teardowns.append(teardown)
        return fs

    yield make
    for teardown in teardowns:
        await teardown()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if REPORTS:
        terminalreporter.section("fault suite counts")
        for report in REPORTS:
            terminalreporter.write_line(report)
