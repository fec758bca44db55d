"""`foresight api`: serve the read-only HTTP API with uvicorn."""

from __future__ import annotations

import typer

from foresight.commands.common import console, err_console, fail


def api(
    host: str = typer.Option("127.0.0.1", "--host", help="interface to bind"),
    port: int = typer.Option(8000, "--port", help="TCP port"),
    workers: int = typer.Option(1, "--workers", help="uvicorn worker processes"),
) -> None:
    """Serve /signals, /market-data/regime, /portfolio/forecast, /dashboard/kpis and /health from the newest
    read snapshot (OpenAPI at /docs). Publishes a first snapshot from the warehouse if there is none."""
    import uvicorn

    from foresight.context import build_context
    from foresight.settings import is_loopback
    from stores.snapshots import publish_warehouse_snapshot, read_pointer, snapshot_dir

    ctx = build_context()
    token = ctx.settings.api.token
    if token is None and not is_loopback(host):
        raise fail(f"refusing to listen on {host} without an API token: anyone who can reach this machine could "
                   "read the signals. Set FORESIGHT_API__TOKEN (clients send `Authorization: Bearer <token>`), or "
                   "bind 127.0.0.1 and put an authenticating reverse proxy in front (docs/deploy.md).", 2)
    snaps = snapshot_dir(ctx.settings.home)
    if read_pointer(snaps) is None and ctx.settings.duckdb_path.exists():
        try:
            publish_warehouse_snapshot(ctx.warehouse, snaps)
        except Exception as exc:  # the batch may hold the writer lock: it publishes when it commits
            err_console.print(f"[yellow]no snapshot yet and could not publish one now:[/] {exc}")
    console.print(f"Foresight API on http://{host}:{port} (docs: http://{host}:{port}/docs)"
                  + ("; every route but /health needs the API token" if token is not None else ""))
    if workers > 1:
        uvicorn.run("foresight.api:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level="warning")
    else:
        from foresight.api import create_app

        uvicorn.run(create_app(ctx.settings), host=host, port=port, log_level="warning")
