"""The `Guard`: starts by fetching the keys and catching up on the feed, follows the stream
on a daemon thread, and checks tokens: offline, or by introspection while the view is stale
if so configured. `check` blocks only for a JWKS refresh or an introspection; `check_async`
runs those two on a worker thread and everything else inline."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any, Callable, Optional

from . import core, http
from .config import INTROSPECT, Config
from .core import Claims
from .errors import INACTIVE, MISSING, STALE_VIEW, UNAVAILABLE, Rejection
from .stream import Follower, catch_up
from .view import Shared


@dataclasses.dataclass(frozen=True)
class Status:
    """What the guard knows, for health checks and logs."""

    #: Whether revocations are judged offline (the view is fresh).
    fresh: bool
    #: Seconds since Scimitar was last heard from on the stream (None: never).
    quiet_for: Optional[float]
    #: The last event applied (`Last-Event-ID` of the next connection).
    cursor: int
    #: Revocation entries held (bounded by the token lifetime).
    entries: int
    jwks_fetches: int
    introspections: int
    reconnects: int


def bearer(value: Optional[str]) -> str:
    """The token of an `Authorization: Bearer …` header value (`missing` otherwise)."""
    if value is None:
        raise Rejection(MISSING, "no bearer token")
    scheme, space, token = value.partition(" ")
    if not space or not scheme.isascii() or scheme.lower() != "bearer" or not token.strip():
        raise Rejection(MISSING, "no bearer token")
    return token.strip()


class Guard:
    """Checks Scimitar access tokens. Create one per process with `Guard.start(config)`."""

    def __init__(self, config: Config, *, clock: Callable[[], float] = time.time):
        self.config = config
        self._shared = Shared(config, clock)
        self._verifier = core.Verifier(config)
        self._follower = Follower(self._shared)

    @classmethod
    def start(cls, config: Config, *, clock: Callable[[], float] = time.time) -> "Guard":
        """Fetches the keys, catches up on the retained revocation events, and starts following
        the stream. Raises `Rejection('unavailable')` if Scimitar cannot be reached.
        `clock` (seconds since the epoch) is for tests."""
        guard = cls(config, clock=clock)
        guard._shared.keys.load()
        catch_up(guard._shared)
        guard._follower.start()
        return guard

    def close(self) -> None:
        """Stops following the stream (the view then goes stale)."""
        self._follower.stop()

    def __enter__(self) -> "Guard":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    # --- checking -------------------------------------------------------------------------

    def check(self, token: str) -> Claims:
        """Returns the claims of a valid, unrevoked access token; raises `Rejection` otherwise."""
        kid = core.key_id(token)
        claims = self._verifier.verify(token, self._shared.keys.get(kid), self._shared.now())
        if self._judge(claims):
            return claims
        return self._introspected(token, claims)

    async def check_async(self, token: str) -> Claims:
        """`check` for async code: a JWKS refresh or an introspection runs on a worker thread."""
        kid = core.key_id(token)
        key = self._shared.keys.cached(kid)
        if key is None:
            key = await asyncio.to_thread(self._shared.keys.get, kid)
        claims = self._verifier.verify(token, key, self._shared.now())
        if self._judge(claims):
            return claims
        return await asyncio.to_thread(self._introspected, token, claims)

    def check_header(self, authorization: Optional[str]) -> Claims:
        """`check` of the bearer token of an `Authorization` header value: what the
        middlewares do."""
        return self.check(bearer(authorization))

    async def check_header_async(self, authorization: Optional[str]) -> Claims:
        return await self.check_async(bearer(authorization))

    def _judge(self, claims: Claims) -> bool:
        """True when the view accepts the token; False when it must be introspected."""
        try:
            self._shared.judge(claims)
        except Rejection as rejection:
            if rejection.code == STALE_VIEW and self.config.on_stale == INTROSPECT:
                return False
            raise
        return True

    def _introspected(self, token: str, claims: Claims) -> Claims:
        if self.introspect(token):
            return claims
        raise Rejection(INACTIVE, "token not active (introspection)")

    def introspect(self, token: str) -> bool:
        """Asks Scimitar (RFC 7662) whether the token is active."""
        self._shared.introspections += 1
        config = self.config
        body = http.fetch(
            f"{config.issuer}/oauth2/introspect",
            timeout=config.request_timeout,
            what="introspection",
            credentials=(config.client_id, config.client_secret),
            form={"token": token},
        )
        try:
            active = core.read_fields(body, ("active",))["active"]
        except (KeyError, ValueError, UnicodeDecodeError) as error:
            raise Rejection(UNAVAILABLE, f"introspection: {error}") from None
        if not isinstance(active, bool):
            raise Rejection(UNAVAILABLE, "introspection: active is not a boolean")
        return active

    # --- status and middleware ------------------------------------------------------------

    def status(self) -> Status:
        shared = self._shared
        quiet = shared.quiet_for()
        return Status(
            fresh=quiet is not None and quiet <= self.config.stale_after,
            quiet_for=quiet,
            cursor=shared.cursor,
            entries=shared.entries(),
            jwks_fetches=shared.keys.fetches,
            introspections=shared.introspections,
            reconnects=shared.reconnects,
        )

    def asgi(self, app: Any) -> Any:
        """ASGI middleware (Starlette, FastAPI, any ASGI app) around `app`."""
        from .asgi import GuardMiddleware

        return GuardMiddleware(app, guard=self)

    def wsgi(self, app: Any) -> Any:
        """WSGI middleware (Flask, Django, any WSGI app) around `app`."""
        from .wsgi import GuardMiddleware

        return GuardMiddleware(app, guard=self)
