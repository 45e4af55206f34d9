"""The Meta simulator's default template catalog: Meta's template objects, as listed.

Enough of them (30) that Meta's default page of 25 leaves a second page, and one of each
kind the service checks: body placeholders (`order_update`, in two languages and more), an
IMAGE header (`delivery_photo`), named placeholders (`reservation_confirmation`), a URL
button suffix, a copy-code button, DOCUMENT and LOCATION headers, and templates that are not
APPROVED (`spring_sale` PAUSED, `account_alert` REJECTED, `loyalty_news` PENDING).
"""

from __future__ import annotations

import copy
from typing import Any


def _body(text: str, *examples: str) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "BODY", "text": text}
    if examples:
        body["example"] = {"body_text": [list(examples)]}
    return body


def _media_header(kind: str) -> dict[str, Any]:
    handle = f"https://scontent.whatsapp.net/v/t61.29466-34/sample.{kind.lower()}"
    return {"type": "HEADER", "format": kind, "example": {"header_handle": [handle]}}


_ORDER_UPDATE = {
    "en_US": "Your order #{{1}} has shipped.",
    "en_GB": "Your order #{{1}} has been dispatched.",
    "de": "Ihre Bestellung #{{1}} ist unterwegs.",
    "fr": "Votre commande n°{{1}} a été expédiée.",
    "es": "Tu pedido #{{1}} ha sido enviado.",
    "it": "Il tuo ordine #{{1}} è stato spedito.",
    "nl": "Je bestelling #{{1}} is verzonden.",
    "pt_BR": "Seu pedido #{{1}} foi enviado.",
}
# name, category, status, languages, components
_TEMPLATES: list[tuple[str, str, str, tuple[str, ...], list[dict[str, Any]]]] = [
    (
        "delivery_photo",
        "UTILITY",
        "APPROVED",
        ("en_US", "de", "fr"),
        [
            _media_header("IMAGE"),
            _body("Hi {{1}}, your parcel was delivered at {{2}}.", "Pablo", "10:42"),
            {"type": "FOOTER", "text": "Reply STOP to opt out"},
        ],
    ),
    (
        "reservation_confirmation",
        "UTILITY",
        "APPROVED",
        ("en_US", "de", "es"),
        [
            _media_header("IMAGE"),
            {
                "type": "BODY",
                "text": "Your table for {{number_of_guests}} on {{day}} at {{time}} is confirmed.",
                "example": {
                    "body_text_named_params": [
                        {"param_name": "number_of_guests", "example": "4"},
                        {"param_name": "day", "example": "Saturday"},
                        {"param_name": "time", "example": "7:30 pm"},
                    ]
                },
            },
        ],
    ),
    (
        "track_parcel",
        "UTILITY",
        "APPROVED",
        ("en_US", "de", "fr"),
        [
            {
                "type": "HEADER",
                "format": "TEXT",
                "text": "Parcel {{1}}",
                "example": {"header_text": ["#42"]},
            },
            _body("Your parcel arrives on {{1}}.", "Monday"),
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Wrong address"},
                    {"type": "URL", "text": "Track", "url": "https://example.com/track/{{1}}"},
                ],
            },
        ],
    ),
    (
        "verification_code",
        "AUTHENTICATION",
        "APPROVED",
        ("en_US", "de", "fr"),
        [
            _body("*{{1}}* is your verification code.", "123456"),
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "Copy code",
                        "url": "https://www.whatsapp.com/otp/code/?otp_type=COPY_CODE&code=otp{{1}}",
                    }
                ],
            },
        ],
    ),
    (
        "invoice_ready",
        "UTILITY",
        "APPROVED",
        ("en_US", "de"),
        [_media_header("DOCUMENT"), _body("Your invoice {{1}} is ready.", "INV-42")],
    ),
    (
        "store_nearby",
        "MARKETING",
        "APPROVED",
        ("en_US", "es"),
        [{"type": "HEADER", "format": "LOCATION"}, _body("Our nearest store is open today.")],
    ),
    (
        "welcome_offer",
        "MARKETING",
        "APPROVED",
        ("en_US", "fr"),
        [
            _body("Welcome! Here is {{1}} off your first order.", "10%"),
            {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "WELCOME10"}]},
        ],
    ),
    ("spring_sale", "MARKETING", "PAUSED", ("en_US", "de"), [_body("Spring sale: all at -20%!")]),
    ("account_alert", "UTILITY", "REJECTED", ("en_US",), [_body("Your account {{1}}.", "x")]),
    ("loyalty_news", "MARKETING", "PENDING", ("en_US",), [_body("News from the club.")]),
]


def default_catalog() -> list[dict[str, Any]]:
    """A fresh copy of the default catalog, in the order Meta would list it."""
    items = [
        ("order_update", "UTILITY", "APPROVED", language, [_body(text, "42")])
        for language, text in _ORDER_UPDATE.items()
    ]
    items += [
        (name, category, status, language, components)
        for name, category, status, languages, components in _TEMPLATES
        for language in languages
    ]
    return copy.deepcopy(
        [
            {
                "name": name,
                "parameter_format": "NAMED" if name == "reservation_confirmation" else "POSITIONAL",
                "components": components,
                "language": language,
                "status": status,
                "category": category,
                "id": str(1_000_000_000_000_000 + i),
            }
            for i, (name, category, status, language, components) in enumerate(items, 1)
        ]
    )
