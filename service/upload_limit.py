"""Rejecting oversized uploads while they stream in, before the body is read into memory."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class UploadTooLarge(Exception):
    pass


class UploadLimitMiddleware:
    """Refuses a request body over `max_bytes`: at once from Content-Length when the client declares it,
    otherwise as soon as the running count of received bytes passes the limit (the endpoint reading the
    body then gets UploadTooLarge, which the app turns into 413)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

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

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise UploadTooLarge(f"the upload passed the limit of {self.max_bytes} bytes")
            return message

        await self.app(scope, counting_receive, send)
