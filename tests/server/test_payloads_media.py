"""image, video, audio, document, sticker: `id` xor https `link`, captions only where Meta
shows one (1024 characters), `filename` only on documents, `voice` only on audio."""

from __future__ import annotations

import pytest

from tests.support.send_cases import DROP, Bad, accepted, changed, check_bad, ids, valid_request

IMAGE = valid_request("image_link_caption")
VIDEO = valid_request("video_link_caption_reply")
AUDIO = valid_request("audio_voice_note")
DOCUMENT = valid_request("document_filename_caption")
STICKER = valid_request("sticker_id")

INVALID = [
    Bad(
        "image without id or link",
        changed(IMAGE, {"image.link": DROP}),
        ["image"],
        "must have id or link",
    ),
    Bad(
        "image with id and link",
        changed(IMAGE, {"image.id": "1"}),
        ["image.link"],
        "must not be given with id (use one of them)",
    ),
    Bad(
        "image link over http",
        changed(IMAGE, {"image.link": "http://cdn.example.com/a.png"}),
        ["image.link"],
        "must be an https:// URL",
    ),
    Bad(
        "image link without host", changed(IMAGE, {"image.link": "https:///a.png"}), ["image.link"]
    ),
    Bad(
        "image link with a space",
        changed(IMAGE, {"image.link": "https://a.com/a b.png"}),
        ["image.link"],
    ),
    Bad(
        "image link not a URL",
        changed(IMAGE, {"image.link": "cdn.example.com/a.png"}),
        ["image.link"],
    ),
    Bad(
        "image id empty",
        changed(IMAGE, {"image.link": DROP, "image.id": ""}),
        ["image.id"],
        "must not be empty",
    ),
    Bad(
        "image id a number",
        changed(IMAGE, {"image.link": DROP, "image.id": 1479537139650973}),
        ["image.id"],
        "must be a string",
    ),
    Bad(
        "image caption of 1025 chars",
        changed(IMAGE, {"image.caption": "c" * 1025}),
        ["image.caption"],
        "must be at most 1024 characters",
    ),
    Bad(
        "image caption blank",
        changed(IMAGE, {"image.caption": "  "}),
        ["image.caption"],
        "must not be only whitespace",
    ),
    Bad(
        "image with filename",
        changed(IMAGE, {"image.filename": "a.png"}),
        ["image.filename"],
        "is not allowed",
    ),
    Bad(
        "image object missing",
        changed(IMAGE, {"image": DROP}),
        ["image"],
        "is required for type image",
    ),
    Bad(
        "image object a string",
        changed(IMAGE, {"image": "https://a.com/a.png"}),
        ["image"],
        "must be an object",
    ),
    Bad(
        "image with a video object",
        changed(IMAGE, {"video": VIDEO["video"]}),
        ["video"],
        "is not allowed for type image",
    ),
    Bad(
        "video caption of 1025 chars",
        changed(VIDEO, {"video.caption": "c" * 1025}),
        ["video.caption"],
        "must be at most 1024 characters",
    ),
    Bad("video without id or link", changed(VIDEO, {"video": {"caption": "x"}}), ["video"]),
    Bad("video with voice", changed(VIDEO, {"video.voice": True}), ["video.voice"]),
    Bad(
        "audio with caption",
        changed(AUDIO, {"audio.caption": "hi"}),
        ["audio.caption"],
        "is not allowed",
    ),
    Bad(
        "audio voice a string",
        changed(AUDIO, {"audio.voice": "true"}),
        ["audio.voice"],
        "must be true or false",
    ),
    Bad(
        "audio with id and link",
        changed(AUDIO, {"audio.link": "https://a.com/a.ogg"}),
        ["audio.link"],
    ),
    Bad(
        "audio link over ftp",
        changed(AUDIO, {"audio": {"link": "ftp://a.com/a.ogg"}}),
        ["audio.link"],
    ),
    Bad(
        "document caption of 1025 chars",
        changed(DOCUMENT, {"document.caption": "c" * 1025}),
        ["document.caption"],
        "must be at most 1024 characters",
    ),
    Bad(
        "document filename empty",
        changed(DOCUMENT, {"document.filename": ""}),
        ["document.filename"],
        "must not be empty",
    ),
    Bad(
        "document filename a number",
        changed(DOCUMENT, {"document.filename": 42}),
        ["document.filename"],
    ),
    Bad("document with id and link", changed(DOCUMENT, {"document.id": "9"}), ["document.link"]),
    Bad(
        "sticker with caption",
        changed(STICKER, {"sticker.caption": "hi"}),
        ["sticker.caption"],
        "is not allowed",
    ),
    Bad(
        "sticker without id or link",
        changed(STICKER, {"sticker": {}}),
        ["sticker"],
        "must have id or link",
    ),
    Bad(
        "sticker link over http",
        changed(STICKER, {"sticker": {"link": "http://a.com/s.webp"}}),
        ["sticker.link"],
    ),
    Bad(
        "sticker with filename",
        changed(STICKER, {"sticker.filename": "s.webp"}),
        ["sticker.filename"],
    ),
    Bad(
        "media reply without message_id",
        changed(VIDEO, {"context": {}}),
        ["context.message_id"],
        "is required",
    ),
    Bad(
        "unknown key in image",
        changed(IMAGE, {"image.provider": {"name": "x"}}),
        ["image.provider"],
        "is not allowed",
    ),
]

VALID_EDGES = [
    ("caption of 1024 chars", changed(IMAGE, {"image.caption": "c" * 1024})),
    ("caption of 1024 emoji", changed(IMAGE, {"image.caption": "📦" * 1024})),
    ("link with query and fragment", changed(IMAGE, {"image.link": "https://a.com/x.png?a=1#b"})),
    ("image by id, no caption", changed(IMAGE, {"image": {"id": "1"}})),
    ("document by id with filename", changed(DOCUMENT, {"document": {"id": "1", "filename": "a"}})),
    ("audio voice false", changed(AUDIO, {"audio.voice": False})),
    ("sticker by link", changed(STICKER, {"sticker": {"link": "https://a.com/s.webp"}})),
    ("any type as a reply", changed(STICKER, {"context": {"message_id": "wamid.X"}})),
]


@pytest.mark.parametrize("case", INVALID, ids=ids(INVALID))
def test_invalid_media_names_the_field(case: Bad) -> None:
    check_bad(case)


@pytest.mark.parametrize(("label", "body"), VALID_EDGES, ids=[c[0] for c in VALID_EDGES])
def test_valid_media_edge(label: str, body: dict) -> None:
    accepted(body)
