"""Why a token was refused: one typed reason per check, so an app can log and count them.

The codes are the Rust guard's `Rejection::code()` strings, character for character; the
conformance vectors (guard/vectors.json) hold all three guards to them.
"""

from __future__ import annotations

MISSING = "missing"
MALFORMED = "malformed"
WRONG_TYPE = "wrong_type"
WRONG_ALGORITHM = "wrong_algorithm"
UNKNOWN_KEY = "unknown_key"
BAD_SIGNATURE = "bad_signature"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"
WRONG_ISSUER = "wrong_issuer"
WRONG_AUDIENCE = "wrong_audience"
REVOKED_SESSION = "revoked_session"
REVOKED_TOKEN = "revoked_token"
USER_NOT_BEFORE = "user_not_before"
STALE_VIEW = "stale_view"
INACTIVE = "inactive"
UNAVAILABLE = "unavailable"

CODES = (
    MISSING,
    MALFORMED,
    WRONG_TYPE,
    WRONG_ALGORITHM,
    UNKNOWN_KEY,
    BAD_SIGNATURE,
    EXPIRED,
    NOT_YET_VALID,
    WRONG_ISSUER,
    WRONG_AUDIENCE,
    REVOKED_SESSION,
    REVOKED_TOKEN,
    USER_NOT_BEFORE,
    STALE_VIEW,
    INACTIVE,
    UNAVAILABLE,
)


class Rejection(Exception):
    """Why `check` refused a token (or `Guard.start` could not begin).

    `code` is one of the codes above; `detail` says more, for logs.
    """

    def __init__(self, code: str, detail: str = ""):
        if code not in CODES:
            raise ValueError(f"unknown refusal code {code!r}")
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail

    @property
    def status(self) -> int:
        """The HTTP status of a refused request: 503 when Scimitar could not be asked."""
        return 503 if self.code == UNAVAILABLE else 401

    def challenge(self) -> str:
        """The `WWW-Authenticate` value (RFC 6750 §3): every refusal of a presented token is
        `invalid_token`; a missing one gets the bare challenge."""
        if self.code == MISSING:
            return "Bearer"
        return f'Bearer error="invalid_token", error_description="{self.code}"'

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rejection) and other.code == self.code

    def __hash__(self) -> int:
        return hash(self.code)

    def __repr__(self) -> str:
        return f"Rejection({self.code!r}, {self.detail!r})"
