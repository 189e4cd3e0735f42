"""Scimitar's signing keys from `/.well-known/jwks.json`, fetched again when a token names an
unknown `kid`, at most once per cooldown (so garbage `kid`s cannot hammer Scimitar), and by
one caller at a time: concurrent checks with the same new `kid` wait for a single fetch."""

from __future__ import annotations

import threading
import time
from typing import Any, Optional

from . import http
from .core import Keys, keys_from_jwks
from .errors import UNAVAILABLE, UNKNOWN_KEY, Rejection


class KeyCache:
    def __init__(self, url: str, cooldown: float, timeout: float):
        self.url = url
        self.cooldown = cooldown
        self.timeout = timeout
        self._lock = threading.Lock()
        self._keys: Keys = {}
        self._fetched_at: Optional[float] = None
        #: How many times the JWKS was fetched.
        self.fetches = 0

    def cached(self, kid: str) -> Optional[Any]:
        """The key of `kid` if it is already known (never waits)."""
        return self._keys.get(kid)

    def load(self) -> None:
        """Fetches the key set now (at start)."""
        with self._lock:
            self._fetch()

    def get(self, kid: str) -> Any:
        """The key for `kid`, refreshing the set once if it is unknown and the cooldown allows."""
        key = self._keys.get(kid)
        if key is not None:
            return key
        # One lock for lookup and refresh: a caller that waited finds the key its
        # predecessor fetched, or the cooldown that fetch started.
        with self._lock:
            key = self._keys.get(kid)
            if key is not None:
                return key
            cooling = self._fetched_at is not None and time.monotonic() - self._fetched_at < self.cooldown
            if not cooling:
                self._fetch()
            key = self._keys.get(kid)
            if key is None:
                raise Rejection(UNKNOWN_KEY, f"unknown signing key {kid!r}")
            return key

    def _fetch(self) -> None:
        self.fetches += 1
        # A failed fetch also starts the cooldown: an unreachable Scimitar is not hammered.
        self._fetched_at = time.monotonic()
        body = http.fetch(self.url, timeout=self.timeout, what="JWKS")
        try:
            self._keys = keys_from_jwks(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise Rejection(UNAVAILABLE, f"JWKS: {error}") from None
