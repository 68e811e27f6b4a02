"""A limit on the size of request bodies that answers with the server's JSON error body.

Starlette has a request-body limit of its own (FastAPI's `max_body_size`), but for a request whose Content-Length
header is over the limit it replaces whatever the application answers with a plain-text "Content Too Large";
this limit keeps the JSON error of every other refusal.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vqa.inference.serve.errors import error_response, too_large_message


class BodyLimit:
    """ASGI middleware: refuse HTTP request bodies larger than `max_bytes` with a 413.

    A body announced larger by its Content-Length is refused before any of it is read. A body without that
    header (chunked) is counted as the application reads it, and reading stops with a 413 at the first byte over.

    Args:
        app: the application to protect.
        max_bytes: the largest body accepted, in bytes.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            await error_response(413, too_large_message(self.max_bytes))(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413)  # FastAPI passes HTTPExceptions raised while reading a body on as such
            return message

        await self.app(scope, counted_receive, send)
