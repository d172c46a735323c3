"""The HTTP/1.1 connection protocol the service runs under uvicorn: h11, with the limits uvicorn lacks.

uvicorn (0.54) bounds neither the time a client may take to send its request headers (3000 slowloris
connections are held forever) nor, with its default httptools parser, their size (a 128 MB header was
read whole while the event loop stalled for everyone). h11 is the pure-Python parser uvicorn also ships;
this subclass adds:
- a header size limit: more than `max_header_bytes` before the headers end is answered 431 and closed;
- a header read timeout: a connection that has not completed its request headers `header_timeout` seconds
  after it opened (or after its previous response, on keep-alive) is answered 408 and closed;
- JSON bodies for the errors uvicorn itself sends (malformed requests), like every other error here.
The body's own idle timeout is the app's (service/upload_limit.py): the ASGI app sees the body, not this.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def _json_error(status: int, code: str, detail: str) -> bytes:
    body = json.dumps({"error": code, "detail": detail}).encode()
    reason = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large"}[status]
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"connection: close\r\n\r\n").encode() + body


class GuardedH11Protocol(H11Protocol):
    max_header_bytes = 32_768
    header_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0
        self._header_deadline: asyncio.TimerHandle | None = None

    @classmethod
    def with_limits(cls, max_header_bytes: int, header_timeout: float) -> type[GuardedH11Protocol]:
        """A subclass carrying the settings (uvicorn builds protocols from a class, without arguments)."""
        return type(cls.__name__, (cls,), {"max_header_bytes": max_header_bytes, "header_timeout": header_timeout})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            # Counted before h11 parses the chunk: once it has, the request is already on its way to the app.
            # (A blank line split across two chunks is only seen by the running total: a few bytes' slack.)
            end = data.find(b"\r\n\r\n")
            header_bytes = self._header_bytes + (len(data) if end < 0 else end + 4)
            if header_bytes > self.max_header_bytes:
                self._refuse(431, "headers_too_large",
                             f"the request line and headers passed {self.max_header_bytes} bytes")
                return
            self._header_bytes = 0 if end >= 0 else header_bytes
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():  # keep-alive: the next request's headers get the same deadline
            self._arm(self.timeout_keep_alive + self.header_timeout)

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "bad_request", msg)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(seconds, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            if self._header_bytes:
                self._refuse(408, "request_timeout", f"the request headers took longer than {self.header_timeout:g} s")
            else:  # an idle connection that never started a request: nothing to answer
                self.transport.close()

    def _refuse(self, status: int, code: str, detail: str) -> None:
        self._disarm()
        self.transport.write(_json_error(status, code, detail))
        self.transport.close()
