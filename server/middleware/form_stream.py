"""A multipart form read from Sanic's request stream, its one file written to a spool file.

Files of up to 100 MB never sit in memory: the body arrives in chunks, python-multipart parses
them as they come, the file's bytes go to the spool (hashed and counted on the way) and the
read stops with a 413 as soon as the file outgrows the limit for its declared type.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from python_multipart.exceptions import ParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from sanic import Request

from server.api_errors import UnsupportedMediaType, ValidationError

_MAX_FIELD_BYTES = 1024


class FieldTooLarge(ValidationError):
    """A 413 that names the field, like a 400 does."""

    status = 413
    code = "payload_too_large"


@dataclass
class UploadedFile:
    filename: str
    content_type: str
    size: int = 0
    head: bytes = b""
    digest: Any = field(default_factory=hashlib.sha256)  # sha256 of the bytes so far


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    file: UploadedFile | None = None


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary of a `multipart/form-data` Content-Type, else a 415."""
    ctype, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType("Content-Type must be multipart/form-data with a boundary")
    return boundary


async def read_form(
    request: Request,
    boundary: bytes,
    spool: BinaryIO,
    *,
    file_field: str,
    allowed: frozenset[str],
    head_bytes: int,
    limit: Callable[[Form, UploadedFile], int],
    max_body_bytes: int,
) -> Form:
    """Parse the body; the `file_field` part goes to `spool`, at most `limit(...)` bytes of it,
    and the whole body (junk after the closing boundary included) at most `max_body_bytes`."""
    reader = _Reader(spool, file_field, allowed, head_bytes, limit)
    parser = MultipartParser(boundary, reader.callbacks())
    read = 0
    try:
        while (chunk := await request.stream.read()) is not None:
            read += len(chunk)
            if read > max_body_bytes:
                raise FieldTooLarge(
                    [{"field": "body", "message": f"must be at most {max_body_bytes} bytes"}]
                )
            parser.write(chunk)
        parser.finalize()
    except ParseError as exc:
        raise _field_error("body", f"is not a valid multipart body ({exc})") from None
    if not reader.ended:
        raise _field_error("body", "is an incomplete multipart body (no closing boundary)")
    return reader.form


class _Reader:
    """python-multipart's callbacks, building a `Form` part by part."""

    def __init__(
        self,
        spool: BinaryIO,
        file_field: str,
        allowed: frozenset[str],
        head_bytes: int,
        limit: Callable[[Form, UploadedFile], int],
    ) -> None:
        self.form = Form()
        self.ended = False
        self._spool, self._file_field, self._allowed = spool, file_field, allowed
        self._head_bytes, self._limit = head_bytes, limit
        self._header_name = self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._value = bytearray()
        self._max = 0

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers, self._value = {}, bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = params.get(b"name", b"").decode(errors="replace")
        if self._name not in self._allowed:
            raise _field_error(self._name or "body", "is not allowed")
        if self._name in self.form.fields or (
            self._name == self._file_field and self.form.file is not None
        ):
            raise _field_error(self._name, "must be given once")
        if self._name == self._file_field:
            self.form.file = upload = UploadedFile(
                filename=params.get(b"filename", b"").decode(errors="replace"),
                content_type=self._headers.get(b"content-type", b"").decode(errors="replace"),
            )
            self._max = self._limit(self.form, upload)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        upload = self.form.file
        if self._name != self._file_field or upload is None:
            self._value += chunk
            if len(self._value) > _MAX_FIELD_BYTES:
                raise _field_error(self._name, f"must be at most {_MAX_FIELD_BYTES} bytes")
            return
        upload.size += len(chunk)
        if upload.size > self._max:
            raise FieldTooLarge(
                [{"field": self._file_field, "message": f"must be at most {self._max} bytes"}]
            )
        if len(upload.head) < self._head_bytes:
            upload.head += chunk[: self._head_bytes - len(upload.head)]
        upload.digest.update(chunk)
        self._spool.write(chunk)

    def _part_end(self) -> None:
        if self._name != self._file_field:
            self.form.fields[self._name] = self._value.decode(errors="replace")

    def _end(self) -> None:
        self.ended = True


def _field_error(name: str, message: str) -> ValidationError:
    return ValidationError([{"field": name, "message": message}])
