"""Per-request plumbing as plain ASGI (no BaseHTTPMiddleware, which interferes with streamed bodies and
client-disconnect detection): request ids, API-key checks, and request metrics."""

from __future__ import annotations

import hmac
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_body
from service.metrics import Metrics
from service.web_page import ASSET_PREFIX, PAGE_PATH

PROBE_PATHS = frozenset({"/healthz", "/readyz"})
"""Always open: orchestrators probe them without credentials."""
METRICS_PATHS = frozenset({"/metrics"})
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
DOCS_PREFIX = "/static-offline-docs/"


def _given_key(headers: dict[bytes, bytes]) -> str:
    key = headers.get(b"x-api-key", b"").decode(errors="replace")
    authorization = headers.get(b"authorization", b"").decode(errors="replace")
    if not key and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    return key


class RequestMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, api_keys: list[str], public_metrics: bool = False,
                 public_docs: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.api_keys = [key.encode() for key in api_keys]
        self.public_paths = PROBE_PATHS | (METRICS_PATHS if public_metrics else set()) | (
            DOCS_PATHS if public_docs else set())
        self.public_docs = public_docs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode(errors="replace")[:128] or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.monotonic()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            if self._authorised(scope, headers):
                await self.app(scope, receive, send_with_id)
            else:
                await self._unauthorised(send_with_id)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", "other")
            self.metrics.requests.labels(endpoint, str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.monotonic() - started)

    def _authorised(self, scope: Scope, headers: dict[bytes, bytes]) -> bool:
        path = scope["path"]
        if not self.api_keys or path in self.public_paths or scope["method"] == "OPTIONS":
            return True
        if path == PAGE_PATH or path.startswith(ASSET_PREFIX):
            return True  # the web page holds no data; the API calls it makes carry the key
        if self.public_docs and path.startswith(DOCS_PREFIX):
            return True
        given = _given_key(headers).encode()
        return bool(given) and any(hmac.compare_digest(given, key) for key in self.api_keys)

    @staticmethod
    async def _unauthorised(send: Send) -> None:
        body = error_body("unauthorized", "a valid API key is required (Authorization: Bearer KEY or X-API-Key: KEY)")
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": body})
