"""`python -m consumers.replay`: kept for existing runbooks; it is `python -m ops replay`.

python -m consumers.replay --id evt_abc --id evt_def
python -m consumers.replay --since 2026-11-24T00:00:00Z --until 2026-11-25T00:00:00Z
python -m consumers.replay --all
"""

from __future__ import annotations

import sys

from ops.__main__ import main as ops_main


def main(argv: list[str] | None = None) -> None:
    ops_main(["replay", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
