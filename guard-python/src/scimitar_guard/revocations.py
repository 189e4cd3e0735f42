"""The revocation view: revoked sessions, tokens and per-user `not_before`, built from
Scimitar's events and bounded: an entry is forgotten once every token it covers has expired
(the longest access-token lifetime plus leeway after the event).

Times are whole microseconds since the Unix epoch (`micros`), which is the precision of
Scimitar's event times and keeps comparisons exact.
"""

from __future__ import annotations

import calendar
import dataclasses
import re
from typing import Any, Dict, Mapping, Optional, Tuple

from .errors import REVOKED_SESSION, REVOKED_TOKEN, USER_NOT_BEFORE, Rejection

MICROS = 1_000_000
I64 = (-(2**63), 2**63 - 1)

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})\Z"
)


def parse_time(text: str) -> int:
    """An RFC 3339 time (`2026-01-15T12:00:00.123456Z`) in micros; ValueError if it is not one."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        raise ValueError(f"no such date: {text!r}")
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"no such time: {text!r}")
    fraction = int((match.group(7) or "0")[:6].ljust(6, "0"))
    offset = match.group(8)
    shift = 0
    if offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        shift = sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - shift
    return seconds * MICROS + fraction


@dataclasses.dataclass(frozen=True)
class Event:
    """One event of the feed or stream, as far as revocation goes."""

    seq: int
    type: str
    occurred: Optional[int] = None
    user: Optional[str] = None
    session: Optional[str] = None
    jti: Optional[str] = None
    not_before: Optional[int] = None

    @classmethod
    def from_json(cls, data: Any) -> "Event":
        """Reads an event as Scimitar serves it; ValueError when it cannot be read (the
        stream skips such an event, the feed refuses its page)."""
        if not isinstance(data, Mapping):
            raise ValueError("an event is a JSON object")
        seq = data.get("seq")
        if not _is_i64(seq):
            raise ValueError("seq must be an integer")
        kind = data.get("type")
        if not isinstance(kind, str):
            raise ValueError("type must be a string")

        def text(name: str) -> Optional[str]:
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string")
            return value

        def moment(name: str) -> Optional[int]:
            value = text(name)
            return None if value is None else parse_time(value)

        return cls(
            seq=seq,
            type=kind,
            occurred=moment("occurred"),
            user=text("user"),
            session=text("session"),
            jti=text("jti"),
            not_before=moment("not_before"),
        )


def _is_i64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and I64[0] <= value <= I64[1]


class RevocationSet:
    """Revoked `sid`s, `jti`s and per-user `not_before`, each with when to forget it."""

    def __init__(self, horizon_seconds: float):
        #: How long after its event an entry still matters (max lifetime + leeway).
        self.horizon = round(horizon_seconds * MICROS)
        self.sessions: Dict[str, int] = {}
        self.jtis: Dict[str, int] = {}
        #: Per user: tokens issued at or before `not_before` are revoked; and when to forget it.
        self.not_before: Dict[str, Tuple[int, int]] = {}

    def apply(self, event: Event, now: int) -> None:
        """Records what an event revokes; events that revoke nothing are ignored."""
        at = event.occurred if event.occurred is not None else event.not_before
        if at is None:
            at = now
        forget = at + self.horizon
        if forget <= now:
            return
        if event.type == "session.revoked":
            if event.session is not None:
                self.sessions[event.session] = forget
        elif event.type == "token.revoked":
            if event.jti is not None:
                self.jtis[event.jti] = forget
        elif event.type == "user.disabled":
            if event.user is not None and event.not_before is not None:
                nb = event.not_before
                held = self.not_before.get(event.user)
                if held is None or nb >= held[0]:
                    self.not_before[event.user] = (nb, nb + self.horizon)
        # `user.enabled` revives nothing; role losses arrive as `session.revoked`.

    def judge(self, claims: Any, now: int) -> None:
        """Raises the refusal of a verified token that the view revokes at `now`: an entry is
        forgotten at its horizon exactly, whenever `prune` reclaims its memory."""
        forget = self.sessions.get(claims.sid)
        if forget is not None and forget > now:
            raise Rejection(REVOKED_SESSION, "session revoked")
        forget = self.jtis.get(claims.jti)
        if forget is not None and forget > now:
            raise Rejection(REVOKED_TOKEN, "token revoked")
        held = self.not_before.get(claims.sub)
        if held is not None and held[1] > now:
            # `iat` has whole seconds: a token of the deactivation's own second is treated as
            # issued before it (no token is issued to an inactive user, so this fails closed).
            if claims.iat <= held[0] // MICROS:
                raise Rejection(USER_NOT_BEFORE, "the user's tokens issued before then are revoked")

    def prune(self, now: int) -> None:
        """Forgets entries whose tokens have all expired."""
        self.sessions = {k: f for k, f in self.sessions.items() if f > now}
        self.jtis = {k: f for k, f in self.jtis.items() if f > now}
        self.not_before = {k: v for k, v in self.not_before.items() if v[1] > now}

    def __len__(self) -> int:
        return len(self.sessions) + len(self.jtis) + len(self.not_before)
