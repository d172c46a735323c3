"""CORS as Starlette does it, with its one plain-text answer (a refused preflight) made JSON like every other
error of the service."""

from __future__ import annotations

from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import Headers
from starlette.responses import Response

from service.errors import error_body


class JsonCORSMiddleware(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        detail = response.body.decode(errors="replace")  # e.g. "Disallowed CORS origin, method"
        body = error_body("cors_refused", detail)
        headers = {k: v for k, v in response.headers.items() if k not in ("content-type", "content-length")}
        return Response(body, status_code=400, headers=headers, media_type="application/json")
