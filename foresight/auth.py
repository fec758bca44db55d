"""The read API's credential: every route but /health asks for the token of `api.token`.

Accepted as `Authorization: Bearer <token>` (scripts, other services) or as the password of HTTP basic auth
(any user name): a browser asks for it once on the dashboard page and sends it with the page's own
requests. The comparison is constant-time (`hmac.compare_digest`), so response timing does not leak how
much of a guess was right."""

from __future__ import annotations

import base64
import binascii
import hmac

from pydantic import SecretStr
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/health"})
"""Liveness stays open for load balancers; it tells only whether a snapshot is served."""


def presented_token(authorization: str | None) -> str | None:
    """The token in an Authorization header: the bearer token, or the password of basic auth."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def token_matches(presented: str | None, token: SecretStr) -> bool:
    """Constant-time comparison of what a client sent with the configured token."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), token.get_secret_value().encode("utf-8"))


class TokenAuth:
    """ASGI middleware: 401 with the API's error shape unless the request carries the token."""

    def __init__(self, app: ASGIApp, token: SecretStr):
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"authorization"), None)
        if token_matches(presented_token(header), self.token):
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            status_code=401,
            content={"error": "unauthorized",
                     "detail": "this API needs its token: send `Authorization: Bearer <token>` (FORESIGHT_API__TOKEN)"},
            headers={"WWW-Authenticate": 'Basic realm="foresight", charset="UTF-8"'},
        )
        await response(scope, receive, send)


__all__ = ["OPEN_PATHS", "TokenAuth", "presented_token", "token_matches"]
