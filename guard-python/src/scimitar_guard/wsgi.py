"""WSGI middleware (Flask, Django, any WSGI app): lets through only requests with an accepted
token, and puts its `Claims` in the environ as `scimitar.claims` (Flask:
`request.environ["scimitar.claims"]`; Django: `request.META["scimitar.claims"]`). A refused
request is answered 401 with `WWW-Authenticate: Bearer error="invalid_token",
error_description="<code>"` (a bare `Bearer` without a token), or 503 when Scimitar could not
be asked.

    app.wsgi_app = guard.wsgi(app.wsgi_app)                 # Flask
    application = guard.wsgi(get_wsgi_application())        # Django's wsgi.py
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from .errors import Rejection

log = logging.getLogger("scimitar_guard")

#: The environ key of the accepted token's claims.
CLAIMS = "scimitar.claims"
_REASONS = {401: "401 Unauthorized", 503: "503 Service Unavailable"}


def header_text(value: Optional[str]) -> Optional[str]:
    """A header value as the Rust middleware reads it: visible ASCII (and tabs) only, else
    absent."""
    if value is None or any(not (c == "\t" or " " <= c <= "~") for c in value):
        return None
    return value


class GuardMiddleware:
    def __init__(self, app: Any, guard: Any):
        self.app = app
        self.guard = guard

    def __call__(self, environ: dict, start_response: Any) -> Any:
        try:
            claims = self.guard.check_header(header_text(environ.get("HTTP_AUTHORIZATION")))
        except Rejection as rejection:
            log.info("token refused: %s", rejection)
            start_response(
                _REASONS[rejection.status],
                [("WWW-Authenticate", rejection.challenge()), ("Content-Length", "0")],
            )
            return [b""]
        environ[CLAIMS] = claims
        return self.app(environ, start_response)
