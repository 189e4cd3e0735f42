"""The guard's decision as a pure function of the token, the published keys, the revocation
view, the time and how long the stream has been quiet: accept, refuse, or ask Scimitar
(introspection, while the view is stale). `Guard.check` runs these steps around its network
calls; the conformance vectors (guard/vectors.json) run them with an injected clock, as the
Rust and Node guards do.

The steps, in the Rust guard's order (the first failing one names the refusal):
1. `key_id`: the header parses, `typ` is `at+jwt`, `alg` is EdDSA, a `kid` is named;
2. the key of that `kid` (unknown: `unknown_key`);
3. `Verifier.verify`: the header's `crit`/`b64`, the EdDSA signature (PyJWT), the claims'
   shape, then `exp`, `nbf` (with leeway), `iss` and `aud`;
4. `judge`: the revocation view (`sid`, `jti`, the user's `not_before`), then staleness.

Tokens are read as strictly as the Rust guard reads them (canonical base64url, JSON claims of
the right types, no claim given twice), so a token gets the same refusal in every language.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from typing import Any, Dict, Mapping, Optional, Tuple

from jwt.algorithms import OKPAlgorithm

from . import errors as codes
from .config import INTROSPECT, Config
from .errors import Rejection
from .revocations import I64, MICROS, RevocationSet

#: The `alg` values the Rust guard's JOSE library can name; any other is a malformed header.
KNOWN_ALGORITHMS = frozenset(
    ["HS256", "HS384", "HS512", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"]
)
_B64URL = re.compile(r"[A-Za-z0-9_-]*\Z")
_HEADER_STRINGS = ("typ", "cty", "jku", "kid", "x5u", "x5t", "x5t#S256", "enc", "zip", "url", "nonce")
_CLAIM_STRINGS = ("iss", "sub", "aud", "jti", "client_id", "sid", "tid")
_CLAIM_NUMBERS = ("exp", "iat", "nbf")


@dataclasses.dataclass(frozen=True)
class Claims:
    """What a verified access token says. Apps read `sub` (the user's SCIM id) and `roles`."""

    iss: str
    #: The user's SCIM id.
    sub: str
    aud: str
    exp: int
    iat: int
    nbf: int
    jti: str
    client_id: str
    #: The session (refresh-token family) the token belongs to.
    sid: str
    #: The tenant.
    tid: str
    roles: Tuple[str, ...] = ()

    def has_role(self, role: str) -> bool:
        return role in self.roles


@dataclasses.dataclass(frozen=True)
class Decision:
    """`accept` (with `claims`), `refuse` (with `rejection`), or `introspect`: the view is
    stale and the guard is configured to ask Scimitar about a token valid offline."""

    kind: str
    claims: Optional[Claims] = None
    rejection: Optional[Rejection] = None


class UnusableKey:
    """A published key that cannot verify EdDSA (another key type or curve): a token naming
    it is malformed, as in the Rust guard."""


Keys = Dict[str, Any]


def _malformed(detail: str) -> Rejection:
    return Rejection(codes.MALFORMED, detail)


def b64url_decode(segment: str) -> bytes:
    """Strict base64url without padding, as the Rust guard reads it: any other alphabet,
    padding, or unused bits set is an error (ValueError)."""
    if not _B64URL.match(segment) or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as error:
        raise ValueError("not base64url") from error
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode() != segment:
        raise ValueError("not canonical base64url")
    return data


class _Fraction(float):
    """A JSON number written with a fraction or exponent: never an integer claim."""


class _Object(list):
    """A JSON object read as its members in order, so a repeated name can be seen."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_object(data: bytes) -> "_Object":
    """A JSON object's members, in order and with any repeated name kept (ValueError when the
    text is not a JSON object)."""
    value = json.loads(
        data.decode("utf-8"),
        object_pairs_hook=_Object,
        parse_float=_Fraction,
        parse_constant=_reject_constant,
    )
    if not isinstance(value, _Object):
        raise ValueError("not a JSON object")
    return value


def fields(pairs: Any, known: Tuple[str, ...]) -> Dict[str, Any]:
    """A JSON object read by `read_object` as a dict; a known field given twice is an error
    (ValueError), as in the Rust guard."""
    if not isinstance(pairs, _Object):
        raise ValueError("not a JSON object")
    found: Dict[str, Any] = {}
    for name, value in pairs:
        if name in found and name in known:
            raise ValueError(f"duplicate field {name}")
        found[name] = value
    return found


def _well_formed(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def read_fields(data: bytes, known: Tuple[str, ...]) -> Dict[str, Any]:
    """A JSON object's text as a dict (ValueError: not a JSON object, or a known field twice)."""
    return fields(read_object(data), known)


def is_list(value: Any) -> bool:
    return isinstance(value, list) and not isinstance(value, _Object)


def _all_well_formed(value: Any) -> bool:
    """Whether every string in a parsed JSON value, names included, is well-formed."""
    if isinstance(value, str):
        return _well_formed(value)
    if isinstance(value, dict):
        return all(_well_formed(k) and _all_well_formed(v) for k, v in value.items())
    if isinstance(value, _Object):
        return all(_well_formed(k) and _all_well_formed(v) for k, v in value)
    if isinstance(value, list):
        return all(_all_well_formed(v) for v in value)
    return True


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and I64[0] <= value <= I64[1]


_HEADER_FIELDS = _HEADER_STRINGS + ("alg", "jwk", "x5c", "crit")


def read_header(token: str) -> Dict[str, Any]:
    """The header of a compact JWS, as strictly as the Rust guard reads it."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise _malformed("a JWT is a string of three parts")
    try:
        header = fields(read_object(b64url_decode(parts[0])), _HEADER_FIELDS)
    except (ValueError, UnicodeDecodeError) as error:
        raise _malformed(f"header: {error}") from None
    # Every member is read (unknown ones too, as the Rust guard keeps them): no lone surrogate.
    if not _all_well_formed(header):
        raise _malformed("header: a string is not well-formed Unicode")
    for name in _HEADER_STRINGS:
        value = header.get(name)
        if value is not None and not (isinstance(value, str) and _well_formed(value)):
            raise _malformed(f"header {name} must be a string")
    for name in ("x5c", "crit"):
        value = header.get(name)
        if value is not None and not (is_list(value) and all(isinstance(v, str) for v in value)):
            raise _malformed(f"header {name} must be a list of strings")
    jwk = header.get("jwk")
    if jwk is not None and not isinstance(jwk, _Object):
        raise _malformed("header jwk must be an object")
    if not isinstance(header.get("alg"), str) or header["alg"] not in KNOWN_ALGORITHMS:
        raise _malformed(f"unknown algorithm {header.get('alg')!r}")
    return header


def key_id(token: str) -> str:
    """Step 1: the `kid` whose key verifies the token (or the header's refusal)."""
    header = read_header(token)
    typ = header.get("typ")
    if typ is None or not typ.isascii() or typ.lower() not in ("at+jwt", "application/at+jwt"):
        raise Rejection(codes.WRONG_TYPE, f"typ {typ!r}")
    if header["alg"] != "EdDSA":
        raise Rejection(codes.WRONG_ALGORITHM, f"algorithm {header['alg']} is not accepted")
    kid = header.get("kid")
    if kid is None:
        raise Rejection(codes.UNKNOWN_KEY, "no kid")
    return kid


def keys_from_jwks(body: bytes) -> Keys:
    """The signing keys of a JWKS document by `kid`. Keys without a `kid` or whose `x` is not
    base64url are skipped; a key of another type or curve is kept as unusable. ValueError
    when the document is not a JWKS."""
    document = json.loads(body.decode("utf-8"))
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    keys: Keys = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict):
            raise ValueError("a JWK is an object")
        kid = jwk.get("kid")
        if not isinstance(kid, str):
            continue
        if jwk.get("kty") != "OKP":
            keys[kid] = UnusableKey()
            continue
        try:
            raw = b64url_decode(jwk.get("x") if isinstance(jwk.get("x"), str) else "!")
        except ValueError:
            continue
        if jwk.get("crv") != "Ed25519" or len(raw) != 32:
            keys[kid] = UnusableKey()
            continue
        try:
            keys[kid] = OKPAlgorithm.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": jwk["x"]})
        except Exception:  # PyJWT's InvalidKeyError: not a point of the curve
            keys[kid] = UnusableKey()
    return keys


def _check_critical(header: Mapping[str, Any]) -> None:
    """The `b64` and `crit` rules the Rust guard applies once the key is known."""
    b64 = header.get("b64", None)
    if "b64" in header and not isinstance(b64, bool):
        raise _malformed("b64 must be a boolean")
    if b64 is False:
        raise _malformed("unencoded payloads are not accepted")
    crit = header.get("crit")
    if crit is not None:
        if not crit or any(name != "b64" for name in crit) or "b64" not in header or len(crit) != 1:
            raise _malformed("critical header parameters are not understood")


def _claims(payload: bytes) -> Claims:
    """The claims of a verified payload, of exactly the shape Scimitar issues."""
    try:
        given = read_fields(payload, _CLAIM_STRINGS + _CLAIM_NUMBERS + ("roles",))
    except (ValueError, UnicodeDecodeError) as error:
        raise _malformed(f"claims: {error}") from None
    for name in _CLAIM_STRINGS:
        value = given.get(name)
        if not (isinstance(value, str) and _well_formed(value)):
            raise _malformed(f"claim {name} must be a string")
    for name in _CLAIM_NUMBERS:
        if not is_int(given.get(name)):
            raise _malformed(f"claim {name} must be an integer")
    roles = given.get("roles", [])
    if not (is_list(roles) and all(isinstance(r, str) and _well_formed(r) for r in roles)):
        raise _malformed("roles must be a list of strings")
    return Claims(
        **{name: given[name] for name in _CLAIM_STRINGS + _CLAIM_NUMBERS},
        roles=tuple(roles),
    )


class Verifier:
    """Step 3: the signature and the claims, against the configured issuer and audience."""

    def __init__(self, config: Config):
        self.issuer = config.issuer
        self.audience = frozenset(config.audience or ())
        self.leeway = int(config.leeway)
        self._eddsa = OKPAlgorithm()

    def verify(self, token: str, key: Any, now: int) -> Claims:
        """Accepts a token signed by `key` whose claims hold at `now` (micros)."""
        _check_critical(read_header(token))
        header_part, payload_part, signature_part = token.split(".")
        if isinstance(key, UnusableKey):
            raise _malformed("the key cannot verify EdDSA")
        try:
            signature = b64url_decode(signature_part)
        except ValueError:
            raise _malformed("signature is not base64url") from None
        message = f"{header_part}.{payload_part}".encode("utf-8")
        if not self._eddsa.verify(message, key, signature):
            raise Rejection(codes.BAD_SIGNATURE, "bad signature")
        try:
            payload = b64url_decode(payload_part)
        except ValueError:
            raise _malformed("payload is not base64url") from None
        claims = _claims(payload)
        # `exp` and `nbf` are NumericDates: a negative one is not a valid claim.
        if claims.exp < 0 or claims.nbf < 0:
            raise _malformed("negative exp or nbf")
        seconds = now // MICROS
        if claims.exp < seconds - self.leeway:
            raise Rejection(codes.EXPIRED, "token expired")
        if claims.nbf > seconds + self.leeway:
            raise Rejection(codes.NOT_YET_VALID, "token not valid yet")
        if claims.iss != self.issuer:
            raise Rejection(codes.WRONG_ISSUER, "wrong issuer")
        if claims.aud not in self.audience:
            raise Rejection(codes.WRONG_AUDIENCE, "wrong audience")
        return claims


def judge(
    revocations: RevocationSet,
    claims: Claims,
    now: int,
    quiet_for: Optional[float],
    stale_after: float,
) -> None:
    """Step 4: raises the refusal of a token the view revokes at `now`; then `stale_view`
    when nothing was heard for longer than `stale_after` seconds (`quiet_for` None: never).
    A revocation already known refuses the token even when stale: revocations are final."""
    revocations.judge(claims, now)
    if quiet_for is None or quiet_for > stale_after:
        quiet = "never heard" if quiet_for is None else f"quiet for {quiet_for:.3f} s"
        raise Rejection(codes.STALE_VIEW, f"revocation view stale ({quiet})")


def decide(
    token: str,
    keys: Keys,
    revocations: RevocationSet,
    now: int,
    quiet_for: Optional[float],
    config: Config,
    verifier: Optional[Verifier] = None,
) -> Decision:
    """The whole decision offline, with the keys at hand (an unknown `kid` is refused here;
    `Guard.check` first fetches the JWKS again, if its cooldown allows)."""
    try:
        kid = key_id(token)
        if kid not in keys:
            raise Rejection(codes.UNKNOWN_KEY, f"unknown signing key {kid!r}")
        claims = (verifier or Verifier(config)).verify(token, keys[kid], now)
    except Rejection as rejection:
        return Decision("refuse", rejection=rejection)
    try:
        judge(revocations, claims, now, quiet_for, config.stale_after)
    except Rejection as rejection:
        if rejection.code == codes.STALE_VIEW and config.on_stale == INTROSPECT:
            return Decision("introspect", claims=claims)
        return Decision("refuse", rejection=rejection)
    return Decision("accept", claims=claims)
