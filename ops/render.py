"""Output for people (aligned tables, short times) and for scripts (`--json`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson


def to_json(value: Any) -> str:
    """Datetimes as ISO 8601, UUIDs as strings, keys sorted: stable output for scripts."""
    return orjson.dumps(
        value, default=_default, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    ).decode()


def _default(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(type(value).__name__)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], indent: str = "") -> str:
    """Columns padded to their widest cell; numbers right-aligned; `-` for nothing."""
    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    numeric = [_numeric([r[i] for r in cells]) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        padded = (
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        )
        return (indent + "  ".join(padded)).rstrip()

    return "\n".join([line(headers), *(line(r) for r in cells)])


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def when(value: datetime | None) -> str:
    """UTC, to the millisecond: what an operator compares with log lines."""
    if value is None:
        return "-"
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def duration(ms: int | float | None) -> str:
    """`850ms`, `12.3s`, `4m05s`, `2h03m`: idle times at a glance."""
    if ms is None:
        return "-"
    s = ms / 1000
    if s < 1:
        return f"{int(ms)}ms"
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def _numeric(column: list[str]) -> bool:
    """Right-align a column of numbers (with `-` for none), not one of dashes only."""
    numbers = [v for v in column if v != "-"]
    return bool(numbers) and all(v.replace(".", "", 1).isdigit() for v in numbers)


def facts(pairs: Sequence[tuple[str, Any]], indent: str = "  ") -> str:
    """`key   value` lines, keys padded to the longest."""
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{indent}{k.ljust(width)}  {cell(v)}" for k, v in pairs)
