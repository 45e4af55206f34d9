"""A chunked request body sent over a raw socket while the answer is read, the way a client
that never stops sending would: how far the server let it go before it answered."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


async def send_chunked(
    host: str, port: int, head: bytes, pieces: Iterable[bytes]
) -> tuple[bytes, int]:
    """Send `head` (ending in its blank line), then each piece as one chunk until the server
    answers or closes; return (the answer's head, b"" if the connection was reset before it
    could be read, and the bytes of body sent). TCP drops what a closed socket had not read,
    so a client still sending may see a reset instead of the answer."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(head)
    answer = asyncio.create_task(reader.readuntil(b"\r\n\r\n"))
    sent = 0
    try:
        for piece in pieces:
            if answer.done():
                break
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            try:
                await asyncio.wait_for(writer.drain(), 5)
            except ConnectionError:  # the server closed: it has answered, and read no more
                break
            sent += len(piece)
        try:
            got = await asyncio.wait_for(answer, 10)
        except ConnectionError:
            got = b""  # reset before we read it
    finally:
        writer.close()
    return got, sent
