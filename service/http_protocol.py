"""The HTTP/1.1 connection protocol the service runs under uvicorn: h11, with the limits uvicorn lacks.

uvicorn (0.54) bounds neither the time a client may take to send its request headers (3000 slowloris
connections are held forever) nor, with its default httptools parser, their size (a 128 MB header was
read whole while the event loop stalled for everyone). h11 is the pure-Python parser uvicorn also ships;
this subclass adds:
- a header size limit: more than `max_header_bytes` before the headers end is answered 431 and closed
  (a request pipelined behind another in the same socket read is bounded by h11's buffer limit, which
  `wavenet serve` sets to the same size);
- a header read timeout: a connection that has not completed its request headers `header_timeout` seconds
  after it opened (or after its previous response, on keep-alive) is answered 408 and closed;
- JSON bodies for the errors uvicorn itself sends (malformed requests), like every other error here;
- a connection answered before its request body was read is closed (otherwise the rest of the body,
  sent one byte at a time, would hold it open with no timer running).
The body's own idle timeout is the app's (service/upload_limit.py): the ASGI app sees the body, not this.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from service.errors import error_body


def _json_error(status: int, code: str, detail: str) -> bytes:
    body = error_body(code, detail)
    reason = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large"}[status]
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"connection: close\r\n\r\n").encode() + body


def longest_head(stream: bytes) -> int:
    """The longest request head in `stream`, which starts at a head: complete heads up to their blank line,
    bodies skipped by their Content-Length (a chunked body ends the search), and an incomplete last head as
    far as it goes. Pipelined requests that arrive in one socket read are all measured."""
    position, longest = 0, 0
    while position < len(stream):
        ends = [i + len(mark) for mark in (b"\r\n\r\n", b"\n\n") if (i := stream.find(mark, position)) >= 0]
        if not ends:
            return max(longest, len(stream) - position)
        end = min(ends)
        longest = max(longest, end - position)
        head = stream[position:end]
        if re.search(rb"\ntransfer-encoding:", head, re.IGNORECASE):
            break
        length = re.search(rb"\ncontent-length:[ \t]*(\d{1,12})", head, re.IGNORECASE)
        position = end + (int(length.group(1)) if length else 0)
    return longest


class GuardedH11Protocol(H11Protocol):
    max_header_bytes = 32_768
    header_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
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
        # A head is being read while the client is between requests (IDLE) or has finished one and pipelines
        # the next (DONE). Checked before h11 parses the chunk: h11 bounds only an incomplete head, and a
        # complete one of up to a whole socket read would reach the app.
        if self.conn.their_state in (h11.IDLE, h11.DONE):
            buffered = self.conn.trailing_data[0]
            if len(buffered) + len(data) > self.max_header_bytes and (
                    longest_head(buffered + data) > self.max_header_bytes):
                self._refuse(431, "headers_too_large",
                             f"the request line and headers passed {self.max_header_bytes} bytes")
                return
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()

    def on_response_complete(self) -> None:
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            # Answered before the body was read (401, 404, 405, 503, a GET with a body): the rest of the
            # body would keep the connection open with no timer; close it, as the answer is complete.
            self.transport.close()
            return
        super().on_response_complete()
        if not self.transport.is_closing():  # keep-alive: the next request's headers get the same deadline
            self._arm(self.timeout_keep_alive + self.header_timeout)

    def send_400_response(self, msg: str) -> None:
        if len(self.conn.trailing_data[0]) > self.max_header_bytes:  # h11's own limit on an incomplete head
            self._refuse(431, "headers_too_large", f"the request line and headers passed {self.max_header_bytes} "
                                                   "bytes")
        else:
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
            if self.conn.trailing_data[0]:
                self._refuse(408, "request_timeout", f"the request headers took longer than {self.header_timeout:g} s")
            else:  # an idle connection that never started a request: nothing to answer
                self.transport.close()

    def _refuse(self, status: int, code: str, detail: str) -> None:
        self._disarm()
        self.transport.write(_json_error(status, code, detail))
        self.transport.close()
