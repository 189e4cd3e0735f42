"""What a guard needs to know: where Scimitar is, who the app is, and how strict to be.

The defaults are the Rust guard's. Durations are in seconds (floats are fine).
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional

REFUSE = "refuse"
INTROSPECT = "introspect"


class OnStale:
    """What `check` does once the revocation view is stale."""

    #: Refuse every token (`stale_view`) until the stream is heard again.
    REFUSE = REFUSE
    #: Ask Scimitar (`/oauth2/introspect`) about each token until the stream is heard again.
    INTROSPECT = INTROSPECT


@dataclasses.dataclass
class Config:
    #: Scimitar's issuer URL: the expected `iss`, and where its endpoints are.
    issuer: str
    #: The app client's credentials, for the stream, the feed and introspection.
    client_id: str
    client_secret: str
    #: Accepted `aud` values (default: the app's client id).
    audience: Optional[List[str]] = None
    #: Base URL of the feed and stream when they are reached another way (default: issuer).
    events_url: Optional[str] = None
    #: The view is stale when nothing (event or heartbeat) was heard for this long. Scimitar
    #: sends a heartbeat every 15 s.
    stale_after: float = 45.0
    on_stale: str = REFUSE
    #: The longest access-token lifetime of the tenant: a revocation is forgotten this long
    #: (plus `leeway`) after it happened, when every token it covers has expired.
    max_token_lifetime: float = 3600.0
    #: Clock skew tolerated on `exp` and `nbf` (whole seconds count).
    leeway: float = 60.0
    #: Least time between two JWKS fetches caused by unknown `kid`s.
    jwks_cooldown: float = 30.0
    #: Longest wait between two reconnection attempts to the stream.
    max_backoff: float = 10.0
    #: Timeout of each request to Scimitar (JWKS, feed, introspection).
    request_timeout: float = 10.0

    def __post_init__(self) -> None:
        self.issuer = self.issuer.rstrip("/")
        if self.events_url is not None:
            self.events_url = self.events_url.rstrip("/")
        if self.audience is None:
            self.audience = [self.client_id]
        if isinstance(self.audience, str):
            self.audience = [self.audience]
        if self.on_stale not in (REFUSE, INTROSPECT):
            raise ValueError(f"on_stale must be {REFUSE!r} or {INTROSPECT!r}, not {self.on_stale!r}")

    @property
    def events_base(self) -> str:
        return self.events_url or self.issuer

    @property
    def horizon(self) -> float:
        """How long after its event a revocation entry still matters."""
        return self.max_token_lifetime + self.leeway
