"""ASGI middleware (Starlette, FastAPI, any ASGI app): lets through only requests with an
accepted token, and puts its `Claims` in the request's state (`request.state.claims` in
Starlette and FastAPI, `scope["state"]["claims"]` in plain ASGI). A refused request is
answered 401 with `WWW-Authenticate: Bearer error="invalid_token",
error_description="<code>"` (a bare `Bearer` without a token), or 503 when Scimitar could not
be asked; a refused WebSocket is closed before it is accepted.

    app = guard.asgi(app)                                   # any ASGI app
    app.add_middleware(GuardMiddleware, guard=guard)        # Starlette, FastAPI
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from .errors import Rejection
from .wsgi import header_text

log = logging.getLogger("scimitar_guard")


class GuardMiddleware:
    def __init__(self, app: Any, guard: Any):
        self.app = app
        self.guard = guard

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            claims = await self.guard.check_header_async(_authorization(scope))
        except Rejection as rejection:
            log.info("token refused: %s", rejection)
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": rejection.status,
                    "headers": [
                        (b"www-authenticate", rejection.challenge().encode()),
                        (b"content-length", b"0"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        # The state is copied, so the claims stay with this request.
        scope = {**scope, "state": {**scope.get("state", {}), "claims": claims}}
        await self.app(scope, receive, send)


def _authorization(scope: dict) -> Optional[str]:
    """The first `Authorization` header, as text (None when absent or not visible ASCII)."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            return header_text(value.decode("latin-1"))
    return None
