"""The `pricing` object the simulator puts on a send's `sent` and `delivered` statuses, as
Meta prices per message (PMP):

- a template is billable at its catalog category (`marketing`, `utility`, `authentication`;
  `utility` when the catalog does not list it), `type: regular`; except a utility template
  inside the user's open customer-service window, which Meta does not charge
  (`free_customer_service`);
- a free-form message (only possible inside the window) is `service`,
  `free_customer_service`, not billable.
"""

from __future__ import annotations

from typing import Any

from sanic import Sanic

FREE_IN_WINDOW = "free_customer_service"


def pricing_for(app: Sanic, body: dict[str, Any], number: str, to: str) -> dict[str, Any]:
    """Meta's `pricing` for the send `body` from `number` to `to`."""
    if body.get("type") != "template":
        return _pricing(False, FREE_IN_WINDOW, "service")
    category = str(app.ctx.templates.category_of(body) or "UTILITY").lower()
    if category == "utility" and app.ctx.windows.is_open(number, to):
        return _pricing(False, FREE_IN_WINDOW, category)
    return _pricing(True, "regular", category)


def _pricing(billable: bool, type_: str, category: str) -> dict[str, Any]:
    return {"billable": billable, "pricing_model": "PMP", "type": type_, "category": category}
