"""scimitar-guard: lets a Python app behind Scimitar accept or reject access tokens without a
network call per request.

A `Guard` verifies tokens offline against Scimitar's JWKS (EdDSA, `typ: at+jwt`, `iss`,
`aud`, `exp`, `nbf`), and follows Scimitar's revocation stream to keep an in-memory set of
revoked sessions (`sid`), tokens (`jti`) and per-user `not_before`, so a revoked token is
refused within milliseconds of the revocation. When the stream has been silent for longer
than a bound, the guard fails closed: it refuses every token, or introspects each one, as
configured. `guard.asgi(app)` (Starlette, FastAPI) and `guard.wsgi(app)` (Flask, Django)
answer 401 with `WWW-Authenticate: Bearer error="invalid_token"`.

It behaves as the Rust guard (`scimitar-guard` crate) does, refusal codes included; the
conformance vectors in the Scimitar repository (guard/vectors.json) hold them together.
"""

from .asgi import GuardMiddleware as ASGIGuard
from .config import Config, OnStale
from .core import Claims
from .errors import CODES, Rejection
from .guard import Guard, Status, bearer
from .wsgi import CLAIMS
from .wsgi import GuardMiddleware as WSGIGuard

__all__ = [
    "ASGIGuard",
    "CLAIMS",
    "CODES",
    "Claims",
    "Config",
    "Guard",
    "OnStale",
    "Rejection",
    "Status",
    "WSGIGuard",
    "bearer",
]
