"""The analyst's morning page at `/`: one HTML file, its script and style, and Chart.js, all served by the
API itself (no CDN, no front-end build). The page reads the same JSON routes, so it shows the snapshot they serve."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
PAGE = STATIC_DIR / "index.html"


def mount_dashboard(app: FastAPI) -> None:
    """Serve the page at `/` and its assets under `/dashboard/static/` (not part of the OpenAPI schema)."""
    html = PAGE.read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(html)

    app.mount("/dashboard/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")


__all__ = ["PAGE", "STATIC_DIR", "mount_dashboard"]
