"""Meta's rules for the message object of a text, media, location or contacts message.

Pure data, Meta's Cloud API pages on each type: lengths in characters (Unicode code points,
as Meta counts them), ranges, patterns, and the keys of the flat objects. The send API's
models (`server.payloads`) and the Meta simulator's checks (`simulator.meta_checks`) are both
built from these, so the service and the simulator refuse the same bodies. Patterns are
anchored, for pydantic's search and Python's `fullmatch` alike.
"""

from __future__ import annotations

TEXT_BODY_MAX_CHARS = 4096

# Media: images, videos and documents take a caption; audio and stickers none.
CAPTION_MAX_CHARS = 1024
# Meta downloads a `link` over http or https; the service sends https links only.
MEDIA_LINK_PATTERN = r"^https://[^\s/?#]+\S*$"

# Location, in degrees.
LATITUDE = (-90, 90)
LONGITUDE = (-180, 180)

# Contacts: `name.formatted_name` and at least one of the other parts of the name.
NAME_PARTS = ("first_name", "last_name", "middle_name", "suffix", "prefix")
ADDRESS_KEYS = ("street", "city", "state", "zip", "country", "country_code", "type")
ORG_KEYS = ("company", "department", "title")
BIRTHDAY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"
# A phone's `wa_id` (a WhatsApp user id: a number's digits) puts a "Message" button on the card.
WA_ID_PATTERN = r"^[0-9]{5,20}$"
