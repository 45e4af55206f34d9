"""Settings as typed environment variables: how one is declared and how all are read.

A variable has a cast (`core.casts`), a default (or none: required), a help string, and the
processes that read it (`read_by`): a required variable is required only there, and has its
`absent` value in the other process. A per-number variable (`<BASE>_<phone_number_id>`)
overrides its base variable for one business number; one naming a number that is not
configured is an error. An empty variable counts as unset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import field, fields
from typing import Any

from core import casts

PROCESSES = ("web", "worker")


class SettingsError(Exception):
    """A required environment variable is missing or malformed."""


def variable(
    name: str,
    cast: Callable[[str], Any] = casts.text,
    default: str | None = None,
    help: str = "",
    secret: bool = False,
    read_by: tuple[str, ...] = PROCESSES,
    absent: Any = "",
) -> Any:
    """A variable; without `default` it is required by the processes that read it
    (`read_by`), and `absent` in the others."""
    meta = {"env": name, "cast": cast, "default": default, "help": help, "secret": secret}
    return field(repr=not secret, metadata={**meta, "read_by": read_by, "absent": absent})


def per_number(base: str, cast: Callable[[str], Any], help: str, secret: bool = False) -> Any:
    """`{phone_number_id: value}` from `<base>_<phone_number_id>` variables (none: {})."""
    meta = {"env": f"{base}_<phone_number_id>", "cast": cast, "default": "", "help": help}
    meta |= {"secret": secret, "read_by": PROCESSES, "absent": {}}
    return field(default_factory=dict, repr=not secret, metadata=meta)


def read_all(cls: type, environ: Mapping[str, str], process: str | None) -> dict[str, Any]:
    """Every variable of the dataclass `cls`, by field name; SettingsError names the first
    bad one."""
    plain = [f for f in fields(cls) if "<" not in f.metadata["env"]]
    values = {f.name: _read(f.metadata, environ, process) for f in plain}
    for f in fields(cls):
        if f not in plain:
            values[f.name] = _read_per_number(f.metadata, environ, values["phone_number_ids"])
    return values


def read_one(cls: type, env_name: str, environ: Mapping[str, str]) -> Any:
    """One variable of `cls`, for commands (like migrate) that need only that one."""
    meta = next(f.metadata for f in fields(cls) if f.metadata["env"] == env_name)
    return _read(meta, environ)


def describe(cls: type) -> list[dict[str, Any]]:
    """Every variable of `cls` with its default and help, for docs and `.env.example`; a
    per-number variable right after the one it overrides."""
    keys = ("env", "default", "help", "secret", "read_by")
    out = [{k: f.metadata[k] for k in keys} for f in fields(cls)]
    for v in [v for v in out if "<" in v["env"]]:
        out.remove(v)
        base = v["env"].removesuffix("_<phone_number_id>")
        out.insert(next(i for i, b in enumerate(out) if b["env"] == base) + 1, v)
    return out


def _read_per_number(
    meta: Mapping[str, Any], environ: Mapping[str, str], numbers: tuple[str, ...]
) -> dict[str, Any]:
    prefix = meta["env"].removesuffix("<phone_number_id>")
    found = {}
    for name in sorted(environ):
        number = name.removeprefix(prefix)
        if number == name or not number.isdigit() or not environ[name].strip():
            continue
        if number not in numbers:
            raise SettingsError(f"{name} names a number not in WHATSAPP_PHONE_NUMBER_ID")
        found[number] = _read({**meta, "env": name}, environ)
    return found


def _read(meta: Mapping[str, Any], environ: Mapping[str, str], process: str | None = None) -> Any:
    # An empty variable counts as unset, so `FOO=` in a .env file means "use the default".
    raw = environ.get(meta["env"], "").strip() or meta["default"]
    if raw is None and process is not None and process not in meta["read_by"]:
        return meta["absent"]
    if raw is None:
        raise SettingsError(f"{meta['env']} is missing ({meta['help']})")
    try:
        return meta["cast"](raw)
    except ValueError as exc:
        raise SettingsError(f"{meta['env']} {exc} ({meta['help']})") from None
