"""The import layers hold: the contract in pyproject.toml ([tool.importlinter]), checked by
import-linter on every run of the suite.

core <- db | whatsapp <- server | consumers | ops <- simulator <- harness <- scripts | bench
<- tests: arrows point down, the web and the workers never import each other, and nothing of
the product imports a tool. A second contract keeps the simulator on Meta's rules only, a
third keeps the web's subpackages and modules free of import cycles.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_import_contract_is_kept(tmp_path: Path) -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run(
        [lint, "--no-cache", "--config", ROOT / "pyproject.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout
