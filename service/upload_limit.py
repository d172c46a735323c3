"""Bounding request bodies while they stream in: their size, how long the client may go silent, how long
the whole body may take, and how many bodies may be arriving at once.

Both are checked in `receive`, before the body is read into memory: a client that declares too large a
Content-Length is refused at once; one that sends more than it may, or stops sending before its body is
complete (a Content-Length larger than what follows, a stalled upload), makes the endpoint reading the
body get UploadTooLarge or UploadStalled, which the app turns into 413 or 408. A body trickled in a byte at a
time stays under the idle timeout but not under the total deadline. Requests with a body beyond
`max_concurrent` arriving at once are refused with 503 before a byte of it is read: each body is held in
memory until it is decoded, so this bounds the memory uploads can take. Once the body is complete
`receive` is passed through untouched: a streamed response waits on it for the client's disconnect.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import ServiceError, UploadsBusy, UploadStalled, UploadTooLarge, error_body


def _answer(error: ServiceError) -> tuple[dict, dict]:
    """The error's response as ASGI messages (sent from here, before the app and its handlers run)."""
    headers = {**(error.headers or {}), "Connection": "close"}
    return ({"type": "http.response.start", "status": error.status,
             "headers": [(b"content-type", b"application/json"),
                         *[(k.lower().encode(), v.encode()) for k, v in headers.items()]]},
            {"type": "http.response.body", "body": error_body(error.code, error.detail)})


class UploadLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, idle_seconds: float, total_seconds: float,
                 max_concurrent: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.idle_seconds = idle_seconds
        self.total_seconds = total_seconds
        self.max_concurrent = max_concurrent
        self.arriving = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            for message in _answer(UploadTooLarge(f"the upload is {int(declared)} bytes; the limit is "
                                                  f"{self.max_bytes}")):
                await send(message)
            return
        has_body = (declared is not None and declared.strip(b"0") != b"") or b"transfer-encoding" in headers
        if has_body and self.arriving >= self.max_concurrent:
            for message in _answer(UploadsBusy(f"{self.max_concurrent} uploads are arriving already; retry later")):
                await send(message)
            return
        received = 0
        complete = not has_body
        self.arriving += has_body
        deadline = time.monotonic() + self.total_seconds

        def arrived() -> None:
            nonlocal complete
            if not complete:
                complete = True
                self.arriving -= 1

        async def guarded_receive() -> Message:
            nonlocal received
            if complete:
                return await receive()
            remaining = deadline - time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, min(self.idle_seconds, remaining)))
            except TimeoutError:
                arrived()
                why = (f"no request data for {self.idle_seconds:g} s" if remaining > self.idle_seconds
                       else f"the body took longer than {self.total_seconds:g} s")
                raise UploadStalled(f"{why} before it was complete ({received} bytes received)") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    arrived()
                    raise UploadTooLarge(f"the upload passed the limit of {self.max_bytes} bytes")
                if not message.get("more_body", False):
                    arrived()
            else:
                arrived()
            return message

        try:
            await self.app(scope, guarded_receive, send)
        finally:
            arrived()
