"""location (degrees in range), contacts (Meta's vCard fields, a formatted name plus one more
part of it), reaction (one emoji, or "" to remove it, on a message_id)."""

from __future__ import annotations

import pytest

from tests.support.send_cases import DROP, Bad, accepted, changed, check_bad, ids, valid_request

LOCATION = valid_request("location_named")
CONTACTS = valid_request("contacts_full")
REACTION = valid_request("reaction_emoji")

INVALID = [
    # location
    Bad(
        "latitude 90.5",
        changed(LOCATION, {"location.latitude": 90.5}),
        ["location.latitude"],
        "must be at most 90",
    ),
    Bad(
        "latitude -91",
        changed(LOCATION, {"location.latitude": -91}),
        ["location.latitude"],
        "must be at least -90",
    ),
    Bad(
        "longitude 180.1",
        changed(LOCATION, {"location.longitude": 180.1}),
        ["location.longitude"],
        "must be at most 180",
    ),
    Bad(
        "latitude a string",
        changed(LOCATION, {"location.latitude": "52.5"}),
        ["location.latitude"],
        "must be a number",
    ),
    Bad("latitude true", changed(LOCATION, {"location.latitude": True}), ["location.latitude"]),
    Bad(
        "latitude missing",
        changed(LOCATION, {"location.latitude": DROP}),
        ["location.latitude"],
        "is required",
    ),
    Bad(
        "name empty",
        changed(LOCATION, {"location.name": ""}),
        ["location.name"],
        "must not be empty",
    ),
    Bad(
        "unknown key in location",
        changed(LOCATION, {"location.zoom": 3}),
        ["location.zoom"],
        "is not allowed",
    ),
    # contacts
    Bad(
        "no contacts",
        changed(CONTACTS, {"contacts": []}),
        ["contacts"],
        "must have at least 1 item",
    ),
    Bad(
        "contacts an object",
        changed(CONTACTS, {"contacts": CONTACTS["contacts"][0]}),
        ["contacts"],
        "must be an array",
    ),
    Bad(
        "contact without name",
        changed(CONTACTS, {"contacts[0].name": DROP}),
        ["contacts[0].name"],
        "is required",
    ),
    Bad(
        "name without formatted_name",
        changed(CONTACTS, {"contacts[0].name.formatted_name": DROP}),
        ["contacts[0].name.formatted_name"],
        "is required",
    ),
    Bad(
        "formatted_name alone",
        changed(CONTACTS, {"contacts[0].name": {"formatted_name": "Ana"}}),
        ["contacts[0].name"],
        "must have one of first_name, last_name, middle_name, suffix, prefix too",
    ),
    Bad(
        "birthday not a date",
        changed(CONTACTS, {"contacts[0].birthday": "23.01.1990"}),
        ["contacts[0].birthday"],
        "must be a date YYYY-MM-DD",
    ),
    Bad(
        "email without @",
        changed(CONTACTS, {"contacts[0].emails[0].email": "support"}),
        ["contacts[0].emails[0].email"],
        "must be an email address",
    ),
    Bad(
        "phone without number",
        changed(CONTACTS, {"contacts[0].phones[1].phone": DROP}),
        ["contacts[0].phones[1].phone"],
        "is required",
    ),
    Bad(
        "wa_id with a plus",
        changed(CONTACTS, {"contacts[0].phones[0].wa_id": "+4915112345678"}),
        ["contacts[0].phones[0].wa_id"],
        "must be 5 to 20 digits",
    ),
    Bad(  # the simulator accepted any digits
        "wa_id of 4 digits",
        changed(CONTACTS, {"contacts[0].phones[0].wa_id": "4915"}),
        ["contacts[0].phones[0].wa_id"],
        "must be 5 to 20 digits",
    ),
    Bad(
        "url without url",
        changed(CONTACTS, {"contacts[0].urls[0]": {"type": "WORK"}}),
        ["contacts[0].urls[0].url"],
        "is required",
    ),
    Bad(
        "unknown key in org",
        changed(CONTACTS, {"contacts[0].org.team": "x"}),
        ["contacts[0].org.team"],
        "is not allowed",
    ),
    # reaction
    Bad(
        "reaction without message_id",
        changed(REACTION, {"reaction.message_id": DROP}),
        ["reaction.message_id"],
        "is required",
    ),
    Bad(
        "reaction without emoji",
        changed(REACTION, {"reaction.emoji": DROP}),
        ["reaction.emoji"],
        "is required",
    ),
    Bad(
        "reaction a word",
        changed(REACTION, {"reaction.emoji": "ok"}),
        ["reaction.emoji"],
        "must be exactly one emoji, or an empty string to remove the reaction",
    ),
    Bad(
        "reaction two emoji with a space",
        changed(REACTION, {"reaction.emoji": "👍 👍"}),
        ["reaction.emoji"],
    ),
    *(
        Bad(f"reaction {label}", changed(REACTION, {"reaction.emoji": emoji}), ["reaction.emoji"])
        for label, emoji in (
            ("two emoji", "👍👍"),
            ("a word and an emoji", "ok👍"),
            ("an accented word", "café"),
            ("one accented letter", "é"),
            ("a keycap base alone", "#"),
        )
    ),
    Bad(
        "reaction a sentence",
        changed(REACTION, {"reaction.emoji": "great job 👍"}),
        ["reaction.emoji"],
    ),
    Bad(
        "reaction null emoji",
        changed(REACTION, {"reaction.emoji": None}),
        ["reaction.emoji"],
        "must be a string",
    ),
]

VALID_EDGES = [
    (
        "poles and antimeridian",
        changed(LOCATION, {"location": {"latitude": 90, "longitude": -180}}),
    ),
    ("integer degrees", changed(LOCATION, {"location.latitude": 0, "location.longitude": 0})),
    (
        "contact with name parts only",
        changed(CONTACTS, {"contacts": [{"name": {"formatted_name": "Dr. X", "prefix": "Dr."}}]}),
    ),
    ("keycap emoji", changed(REACTION, {"reaction.emoji": "1️⃣"})),
    ("flag emoji", changed(REACTION, {"reaction.emoji": "🇩🇪"})),
    ("emoji with skin tone", changed(REACTION, {"reaction.emoji": "👍🏽"})),
    ("family of four, one ZWJ sequence", changed(REACTION, {"reaction.emoji": "👨‍👩‍👧‍👦"})),
    ("rainbow flag", changed(REACTION, {"reaction.emoji": "🏳️‍🌈"})),
    ("remove the reaction", changed(REACTION, {"reaction.emoji": ""})),
]


@pytest.mark.parametrize("case", INVALID, ids=ids(INVALID))
def test_invalid_location_contacts_reaction_names_the_field(case: Bad) -> None:
    check_bad(case)


@pytest.mark.parametrize(("label", "body"), VALID_EDGES, ids=[c[0] for c in VALID_EDGES])
def test_valid_location_contacts_reaction_edge(label: str, body: dict) -> None:
    accepted(body)
