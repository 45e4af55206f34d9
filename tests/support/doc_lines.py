"""The shell lines of README.md and docs/*.md that talk to the service (`curl`, `redis-cli`,
the operator's CLI, `railway`), as a reader pastes them, and one bash script that runs them
in order against a local run.

A command is taken from a fenced `bash` block, its continued lines (a trailing backslash, or
a quote still open) joined. One marked `# production` (a comment on it) cannot run against
the local run: it is listed, not run.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

SERVICE_COMMAND = re.compile(r"\bcurl\b|\bredis-cli\b|\bpython -m ops\b|(^|[\s;(])railway\b")
PRODUCTION = re.compile(r"#\s*production\b")
_FENCE = re.compile(r"^( *)```(bash|sh|shell)\n(.*?)^\1```", re.M | re.S)
_DONE = "@@done rc="


@dataclass(frozen=True)
class DocLine:
    doc: str  # the file, relative to the repository
    line: int  # where the command starts
    command: str

    @property
    def production(self) -> bool:
        return bool(PRODUCTION.search(self.command))

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.command}"


def documents(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def doc_lines(root: Path) -> list[DocLine]:
    """Every service command of the README and docs/, in reading order."""
    found = []
    for path in documents(root):
        text = path.read_text()
        for block in _FENCE.finditer(text):
            first = text.count("\n", 0, block.start(3)) + 1
            indent = len(block.group(1))
            lines = [line[indent:] for line in block.group(3).splitlines()]
            for offset, command in _commands(lines):
                if SERVICE_COMMAND.search(_without_comment(command)):
                    found.append(DocLine(str(path.relative_to(root)), first + offset, command))
    return found


def _commands(lines: list[str]) -> list[tuple[int, str]]:
    """(index of its first line, command): continued lines joined."""
    out: list[tuple[int, str]] = []
    start, pending = 0, ""
    for i, line in enumerate(lines):
        if not pending:
            start = i
        pending = f"{pending}\n{line}" if pending else line
        if pending.rstrip().endswith("\\") or not _complete(pending):
            continue
        if pending.strip() and not pending.lstrip().startswith("#"):
            out.append((start, pending))
        pending = ""
    assert not pending, f"unterminated command: {pending}"
    return out


def _complete(command: str) -> bool:
    try:
        shlex.split(command, comments=True)
    except ValueError:  # a quote still open
        return False
    return True


def _without_comment(command: str) -> str:
    return shlex.join(shlex.split(command, comments=True))


def script(lines: list[DocLine], env_file: str, ports: dict[str, str]) -> str:
    """A bash script running `lines` in one shell, as a reader would after sourcing the local
    run's env file. A variable the file does not define fails its line, so does curl on an
    HTTP error (its body still shown) and a pipeline on any of its commands; `uv run X` runs X
    from the project's environment (on PATH); the documented ports are the run's. After each
    command a marker line carries its status."""
    head = [
        f"set -a; . {shlex.quote(env_file)}; set +a",
        "set -u -o pipefail",  # an undefined variable fails its line
        'curl() { command curl --fail-with-body "$@"; }',
        'uv() { if [ "$1" = run ]; then shift; "$@"; else command uv "$@"; fi; }',
    ]
    body = []
    for line in lines:
        command = line.command
        for documented, actual in ports.items():
            command = command.replace(f"127.0.0.1:{documented}", f"127.0.0.1:{actual}")
        body += [command, f"printf '\\n{_DONE}%d@@\\n' $?"]
    return "\n".join(head + body) + "\n"


def results(output: str) -> list[tuple[int, str]]:
    """(status, output) of each command of `script`, from the script's combined output."""
    parts = re.split(rf"\n{re.escape(_DONE)}(\d+)@@\n", output)
    return [(int(parts[i + 1]), parts[i].strip()) for i in range(0, len(parts) - 1, 2)]
