"""Meta's rules for an `interactive` message: reply buttons, lists, CTA URL buttons, Flows and
location requests.

Pure data from Meta's Cloud API pages on each kind; the send API's models
(`server.payloads.interactive*`) and the Meta simulator (`simulator.meta_interactive`) are both
built from it. Where Meta's pages disagree the later page wins: a list's body may be 4096
characters (the other kinds keep 1024) and `flow_cta` 30 (it was 20).
"""

from __future__ import annotations

# Header, body and footer around the action. A list takes a text header only; a location
# request no header and no footer.
HEADER_TYPES = ("text", "image", "video", "document")
LIST_HEADER_TYPES = ("text",)
HEADER_TEXT_MAX_CHARS = 60
BODY_MAX_CHARS = 1024
LIST_BODY_MAX_CHARS = 4096
FOOTER_MAX_CHARS = 60

# The ids a user's choice comes back with: Meta refuses leading or trailing white space.
CHOICE_ID_PATTERN = r"^\S(?:[\s\S]*\S)?$"

# Reply buttons: ids and titles unique within the message.
REPLY_BUTTONS_MAX = 3
BUTTON_ID_MAX_CHARS = 256
BUTTON_TITLE_MAX_CHARS = 20

# Lists: row ids unique across sections; a title on every section when there are several.
LIST_BUTTON_MAX_CHARS = 20
SECTIONS_MAX = 10
ROWS_MAX = 10  # in all sections together
SECTION_TITLE_MAX_CHARS = 24
ROW_ID_MAX_CHARS = 200
ROW_TITLE_MAX_CHARS = 24
ROW_DESCRIPTION_MAX_CHARS = 72

# A button that opens a URL.
CTA_DISPLAY_TEXT_MAX_CHARS = 20
CTA_URL_PATTERN = r"^https?://[^\s/?#]+\S*$"

# A button that opens a Flow: exactly one of `flow_id` or `flow_name`; a `flow_action_payload`
# only with `navigate`.
FLOW_MESSAGE_VERSIONS = ("3",)
FLOW_CTA_MAX_CHARS = 30
FLOW_MODES = ("draft", "published")
FLOW_ACTIONS = ("navigate", "data_exchange")
