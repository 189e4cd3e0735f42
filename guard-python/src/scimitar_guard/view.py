"""State shared by `check` and the stream follower: the revocation set, the cursor, when
Scimitar was last heard from, and the counters `Guard.status()` reports."""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional

from . import core
from .config import Config
from .keys import KeyCache
from .revocations import MICROS, Event, RevocationSet

#: How often the set is pruned (on the follower's path, never on `check`'s).
PRUNE_EVERY = 10.0


class Shared:
    def __init__(self, config: Config, clock: Callable[[], float]):
        self.config = config
        #: Wall-clock seconds since the epoch (injectable for tests).
        self.clock = clock
        self.keys = KeyCache(f"{config.issuer}/.well-known/jwks.json", config.jwks_cooldown, config.request_timeout)
        self._lock = threading.Lock()
        self._set = RevocationSet(config.horizon)
        self._cursor = 0
        self._heard: Optional[float] = None
        self._pruned = time.monotonic()
        self.introspections = 0
        self.reconnects = 0

    def now(self) -> int:
        """The wall-clock time in micros."""
        return int(self.clock() * MICROS)

    @property
    def cursor(self) -> int:
        with self._lock:
            return self._cursor

    def apply(self, event: Event) -> None:
        now = self.now()
        with self._lock:
            self._set.apply(event, now)
            self._cursor = max(self._cursor, event.seq)
            if time.monotonic() - self._pruned >= PRUNE_EVERY:
                self._set.prune(now)
                self._pruned = time.monotonic()

    def advance(self, seq: int) -> None:
        with self._lock:
            self._cursor = max(self._cursor, seq)

    def heard(self) -> None:
        with self._lock:
            self._heard = time.monotonic()

    def quiet_for(self) -> Optional[float]:
        """Seconds since Scimitar was last heard (None: never)."""
        with self._lock:
            return None if self._heard is None else time.monotonic() - self._heard

    def entries(self) -> int:
        with self._lock:
            return len(self._set)

    def judge(self, claims: core.Claims) -> None:
        """Raises the view's refusal of a verified token, or `stale_view` when it is stale."""
        now = self.now()
        with self._lock:
            quiet = None if self._heard is None else time.monotonic() - self._heard
            core.judge(self._set, claims, now, quiet, self.config.stale_after)
