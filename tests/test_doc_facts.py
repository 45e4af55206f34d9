"""Facts the docs state about the code, checked against it: the test files they name exist,
the README's example event is a whole one, and the readers of `.env` are the ones named."""

from __future__ import annotations

import json
import re

import pytest

from hub.contract import StatusEventData
from ops.__main__ import SETTINGS_FILES
from tests.conftest import ROOT

NAMING_FILES = [
    ROOT / "Dockerfile",
    ROOT / ".railway" / "railway.py",
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "performance-history.md"),
]  # the history names files as they were then


@pytest.mark.parametrize("path", NAMING_FILES, ids=[p.name for p in NAMING_FILES])
def test_every_test_file_named_exists(path):
    named = set(re.findall(r"\btests/[\w/]+\.py\b", path.read_text()))
    assert not {n for n in named if not (ROOT / n).is_file()}


def test_the_readmes_example_event_has_every_field_of_a_status_event():
    events = (ROOT / "README.md").read_text().split("## Events in brief", 1)[1]
    [example] = re.findall(r"```json\n(.*?)```", events.split("\n## ", 1)[0], re.S)
    data = json.loads(example)["data"]
    assert set(StatusEventData.model_fields) <= set(data), set(StatusEventData.model_fields) - set(
        data
    )


def test_configuration_names_every_reader_of_the_env_file():
    intro = (ROOT / "docs" / "configuration.md").read_text().split("<!--", 1)[0]
    assert ROOT / ".env" in SETTINGS_FILES
    assert "`python -m scripts.dev`" in intro and "`python -m ops`" in intro
    assert "only" not in intro.split(".env", 1)[1].split(")", 1)[0]


def test_message_types_does_not_call_mark_read_unsupported():
    unsupported = (ROOT / "docs" / "message-types.md").read_text().split("## Not supported yet")[1]
    first_paragraph = unsupported.strip().split("\n\n", 1)[0]
    assert "typing" not in first_paragraph and "read" not in first_paragraph
