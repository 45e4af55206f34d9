"""`GET /api/v1/usage/`: what each caller, number and pricing category used over a period.

Counts messages Meta priced (their first status carrying `pricing`), by the time they were
accepted (`created_at`); with a rate card (USAGE_RATE_CARD_PATH) also an estimated cost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from core.api_keys import CALLER_PATTERN
from core.rate_card import RateCard
from db import usage
from db.usage import UsageRow
from server.api_errors import Unavailable, ValidationError, unknown_parameters
from server.auth import require_api_key
from server.openapi.operation import API_KEY, Param, number_param, operation
from server.openapi.usage_answer import Usage
from server.web_context import web

bp = Blueprint("usage", url_prefix="/api/v1/usage")
_PARAMS = ("from", "to", "phone_number_id", "caller")
_DIGITS = re.compile(r"^[0-9]{1,32}$")
_CALLER = re.compile(CALLER_PATTERN)
_WHEN = "an ISO date (2026-12-01) or date-time (2026-12-01T00:00:00Z; UTC if no offset)"


@bp.get("/")
@operation(
    "Usage by category, number and caller",
    tag="usage",
    params=(
        Param(
            "from",
            "query",
            required=False,
            description=f"start, inclusive: {_WHEN}; default: the first day of the month of `to`",
        ),
        Param(
            "to",
            "query",
            required=False,
            description=f"end: {_WHEN}; a date counts that whole day; default: now",
        ),
        number_param("only messages from this business number"),
        Param(
            "caller",
            "query",
            {"type": "string", "pattern": CALLER_PATTERN},
            required=False,
            description="only messages sent with this caller's keys",
        ),
    ),
    responses={200: Usage},
    errors=(ValidationError, Unavailable),
    auth=API_KEY,
)
async def usage_report(request: Request) -> HTTPResponse:
    """Billable and free messages accepted in the period, in total and by pricing category,
    business number and caller; with a rate card, the estimated cost of each (an estimate:
    Meta's invoice is the truth)."""
    require_api_key(request)
    args = request.get_args(keep_blank_values=True)
    problems = unknown_parameters(args, _PARAMS)
    given = {name: args.get(name) or "" for name in _PARAMS if name in args}
    start, end = _period(given, problems)
    if "phone_number_id" in given and not _DIGITS.match(given["phone_number_id"]):
        problems.append({"field": "phone_number_id", "message": "must be digits only"})
    if "caller" in given and not _CALLER.match(given["caller"]):
        problems.append({"field": "caller", "message": f"must match {CALLER_PATTERN}"})
    if problems:
        raise ValidationError(problems)
    ctx = web(request)
    card: RateCard | None = ctx.settings.usage_rate_card
    rows = await usage.usage(
        ctx.pool,
        start,
        end,
        phone_number_id=given.get("phone_number_id"),
        caller=given.get("caller"),
        prefix_digits=card.prefix_digits if card else 0,
    )
    body: dict[str, Any] = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "phone_number_id": given.get("phone_number_id"),
        "caller": given.get("caller"),
        "currency": card.currency if card else None,
        "totals": _counts(rows, card),
        "by_category": _by(rows, card, lambda r: r.category or "unknown"),
        "by_phone_number": _by(rows, card, lambda r: r.phone_number_id),
        "by_caller": _by(rows, card, lambda r: r.caller),
    }
    return json(body)


def _period(given: dict[str, str], problems: list[dict[str, str]]) -> tuple[datetime, datetime]:
    """[from, to): `to` defaults to now, `from` to the first day of the month `to` ends (UTC)."""
    now = datetime.now(UTC)
    end = _instant(given, "to", problems, whole_day=True) or now
    start = _instant(given, "from", problems)
    if start is None:
        try:
            last_day = (end - timedelta(microseconds=1)).date()  # `to` is exclusive
        except OverflowError:
            last_day = end.date()
        start = datetime.combine(last_day.replace(day=1), time(), UTC)
    if start >= end and not problems:
        problems.append({"field": "to", "message": "must be after from"})
    return start, end


def _instant(
    given: dict[str, str], name: str, problems: list[dict[str, str]], *, whole_day: bool = False
) -> datetime | None:
    if name not in given:
        return None
    text = given[name].strip()
    try:
        if len(text) == 10:  # a date: its midnight (as `to`, the next one: the day counts)
            day = date.fromisoformat(text) + timedelta(days=1 if whole_day else 0)
            return datetime.combine(day, time(), UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # OverflowError: beyond year 1 to 9999 in UTC
        problems.append({"field": name, "message": f"must be {_WHEN}"})
        return None


def _by(rows: list[UsageRow], card: RateCard | None, key: Any) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[UsageRow]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return {name: _counts(group, card) for name, group in sorted(groups.items())}


def _counts(rows: Iterable[UsageRow], card: RateCard | None) -> dict[str, Any]:
    counts: dict[str, Any] = {"messages": 0, "billable": 0, "free": 0}
    cost, unrated = Decimal(0), 0
    for row in rows:
        counts["messages"] += row.messages
        if row.billable is False:
            counts["free"] += row.messages
        if not row.billable:
            continue
        counts["billable"] += row.messages
        price = card.price(row.prefix, row.category) if card else None
        if price is None:
            unrated += row.messages
        else:
            cost += price * row.messages
    if card:
        counts |= {"estimated_cost": float(round(cost, 6)), "unrated": unrated}
    return counts
