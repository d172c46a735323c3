"""Bounding request bodies while they stream in: their size, and how long the client may go silent.

Both are checked in `receive`, before the body is read into memory: a client that declares too large a
Content-Length is refused at once; one that sends more than it may, or stops sending before its body is
complete (a Content-Length larger than what follows, a stalled upload), makes the endpoint reading the
body get UploadTooLarge or UploadStalled, which the app turns into 413 or 408. Once the body is complete
`receive` is passed through untouched: a streamed response waits on it for the client's disconnect.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class UploadTooLarge(Exception):
    pass


class UploadStalled(Exception):
    pass


class UploadLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, idle_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.idle_seconds = idle_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            body = json.dumps({"error": "upload_too_large",
                               "detail": f"the upload is {int(declared)} bytes; the limit is {self.max_bytes}"})
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body.encode()})
            return
        received = 0
        complete = False

        async def guarded_receive() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.idle_seconds)
            except TimeoutError:
                raise UploadStalled(f"no request data for {self.idle_seconds:g} s before the body was "
                                    f"complete ({received} bytes received)") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise UploadTooLarge(f"the upload passed the limit of {self.max_bytes} bytes")
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        await self.app(scope, guarded_receive, send)
