"""The web page at `/`: one HTML file and its plain JS modules and stylesheet under `/ui/`, read from the
package (service/web/) so an installed wheel serves the same files. No build step and nothing from a CDN:
the page works on a host with no internet, and its Content-Security-Policy lets it talk to this server only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

WEB_ROOT = Path(__file__).parent / "web"
PAGE_PATH = "/"
ASSET_PREFIX = "/ui/"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
HEADERS = {
    # Unversioned URLs: a browser must revalidate (cheap, see If-None-Match below) or it runs old JS after
    # an upgrade of the service.
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # blob: for the generated WAV in the audio element; everything else from this origin only.
    "Content-Security-Policy": "default-src 'self'; media-src 'self' blob:; img-src 'self' data: blob:; "
                               "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}

router = APIRouter(include_in_schema=False)


def _assets() -> dict[str, Path]:
    """The servable files by name. A request's name is looked up in this table, never joined onto a path,
    so no name (`..`, an encoded slash) can reach outside the folder."""
    return {path.name: path for path in WEB_ROOT.iterdir()
            if path.is_file() and path.suffix in CONTENT_TYPES and path.name != "index.html"}


ASSETS = _assets()


def _serve(request: Request, path: Path) -> Response:
    # Read per request (a few kB): an upgraded file is served at once, and its hash is the ETag.
    body = path.read_bytes()
    headers = {**HEADERS, "ETag": f'"{hashlib.sha256(body).hexdigest()[:32]}"'}
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=CONTENT_TYPES[path.suffix], headers=headers)


@router.get(PAGE_PATH)
def page(request: Request) -> Response:
    return _serve(request, WEB_ROOT / "index.html")


@router.get(ASSET_PREFIX + "{name}")
def asset(request: Request, name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(404, f"no page asset named {name!r}")
    return _serve(request, ASSETS[name])
