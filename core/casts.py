"""How each setting's text becomes its value: one cast per kind of variable.

A cast takes the variable's raw text and returns the value, or raises ValueError whose
message finishes the sentence "<VARIABLE> ..." (`core.settings` adds the name and help).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable


def text(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty")
    return value.strip()


def url(*schemes: str) -> Callable[[str], str]:
    def cast(value: str) -> str:
        value = value.strip()
        if not any(value.startswith(f"{s}://") for s in schemes):
            raise ValueError(f"must start with {' or '.join(s + '://' for s in schemes)}")
        return value

    return cast


def http_base(value: str) -> str:
    return url("http", "https")(value).rstrip("/")


def csv(value: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if not items:
        raise ValueError("has no values")
    return items


def optional_csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


# A DNS name or IPv4 address (letters, digits, dots, dashes), or an IPv6 address in brackets.
_HOST_NAME = r"(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])"
_PUBLIC_HOST = re.compile(rf"{_HOST_NAME}(?::[0-9]{{1,5}})?")
_ALLOWED_HOST = re.compile(rf"\*|\.?{_HOST_NAME}")


def public_host(value: str) -> str:
    host = value.strip().lower()
    if host and not _PUBLIC_HOST.fullmatch(host):
        raise ValueError("must be a host name with an optional port, like api.example.com")
    return host


def allowed_hosts(value: str) -> tuple[str, ...]:
    hosts = tuple(h.lower().rstrip(".") for h in optional_csv(value))
    if not all(_ALLOWED_HOST.fullmatch(h) for h in hosts):
        raise ValueError(
            "must be host names without scheme or port, like api.example.com, .example.com "
            "(the domain and its subdomains) or *"
        )
    return hosts


def numbers(value: str) -> tuple[str, ...]:
    numbers = csv(value)
    if not all(n.isdigit() for n in numbers):
        raise ValueError("must be digits only, comma-separated")
    if len(set(numbers)) != len(numbers):
        raise ValueError("names a number twice")
    return numbers


def digits(value: str) -> str:
    if not value.strip().isdigit():
        raise ValueError("must be digits only")
    return value.strip()


def optional_digits(value: str) -> str:
    return digits(value) if value.strip() else ""


def int_in(low: int, high: int) -> Callable[[str], int]:
    def cast(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError("must be a whole number") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return cast


def off_or_in(low: int, high: int) -> Callable[[str], int]:
    """0 (off), or a whole number from `low` to `high`."""

    def cast(value: str) -> int:
        number = int_in(0, high)(value)
        if 0 < number < low:
            raise ValueError(f"must be 0 (off) or between {low} and {high}")
        return number

    return cast


def float_in(low: float, high: float) -> Callable[[str], float]:
    def cast(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise ValueError("must be a number") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return cast


def optional_seconds(low: float, high: float) -> Callable[[str], float | None]:
    def cast(value: str) -> float | None:
        return float_in(low, high)(value) if value.strip() else None

    return cast


def delays(value: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(v) for v in csv(value))
    except ValueError:
        raise ValueError("must be comma-separated seconds, like 5,300,1800") from None
    if any(not 0 <= d <= 7 * 86400 for d in delays):
        raise ValueError("each delay must be between 0 and 604800 seconds")
    return delays


def whsec(value: str) -> str:
    # Standard Webhooks secrets are "whsec_" + base64 of 24-64 random bytes.
    value = value.strip()
    raw = value.removeprefix("whsec_")
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        raise ValueError("must be whsec_ followed by base64") from None
    if not value.startswith("whsec_") or len(key) < 16:
        raise ValueError("must be whsec_ followed by base64 of at least 16 bytes")
    return value


def version(value: str) -> str:
    if not re.fullmatch(r"v\d+\.\d+", value.strip()):
        raise ValueError("must look like v26.0")
    return value.strip()


def boolean(value: str) -> bool:
    text = value.strip().lower()
    if text not in {"true", "false", "1", "0", "yes", "no"}:
        raise ValueError("must be true or false")
    return text in {"true", "1", "yes"}


def boolean_or_auto(value: str) -> bool | None:
    """true, false, or `auto` (None: the caller decides, asking the server say)."""
    return None if value.strip().lower() == "auto" else boolean(value)


def level(value: str) -> str:
    level = value.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return level
