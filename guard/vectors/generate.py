"""Writes guard/vectors.json: the conformance cases that the Rust, Python and Node guards all
run (guard/tests/vectors.rs, guard-python/tests/test_vectors.py, guard-node/test/vectors.test.js).

Each case is a token, the keys published in the JWKS, the revocation events the guard has
received (each with the time it arrived), a clock (the time of the check and how long the
stream has been quiet) and a configuration, with the expected decision and refusal code.

The Ed25519 keys are test-only: generated once, kept in vectors.json, and read back from it on
every later run, so the output is the same byte for byte (Ed25519 signatures are deterministic).
Run it from anywhere with a Python that has `cryptography` (the guard-python test venv does):

    python guard/vectors/generate.py
"""

import base64
import datetime
import hashlib
import hmac
import json
import pathlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

OUT = pathlib.Path(__file__).resolve().parent.parent / "vectors.json"

ISSUER = "https://scimitar.test"
AUDIENCE = "app_7f3c"
NOW = datetime.datetime(2026, 1, 15, 12, 0, 0, 400000, tzinfo=datetime.timezone.utc)
NOW_S = int(NOW.timestamp())  # whole seconds, as the claims carry them
USER = "2f4e6a7c-0000-4000-8000-00000000a1a1"
SESSION = "5b1d9e3a-0000-4000-8000-00000000b2b2"
JTI = "8c2f1a4d-0000-4000-8000-00000000c3c3"

CONFIG = {
    "issuer": ISSUER,
    "audience": [AUDIENCE],
    "leeway_seconds": 60,
    "max_token_lifetime_seconds": 3600,
    "stale_after_ms": 45000,
    "on_stale": "refuse",
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64_json(value) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def at(seconds: float) -> str:
    """The RFC 3339 time `seconds` after NOW (negative: before), with microseconds."""
    moment = NOW + datetime.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def load_keys():
    """The test keys of an earlier run, or new ones (only when vectors.json does not exist)."""
    if OUT.exists():
        return json.loads(OUT.read_text())["keys"]
    keys = {}
    for kid in ("k1", "k2", "stranger"):
        private = Ed25519PrivateKey.generate()
        d = private.private_bytes_raw()
        x = private.public_key().public_bytes_raw()
        public = {"kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA", "use": "sig", "x": b64(x)}
        keys[kid] = {"private": {**public, "d": b64(d)}, "public": public}
    return keys


KEYS = load_keys()
# Published: k1 and k2. `stranger` signs forged tokens under k1's kid.
JWKS = {"keys": [KEYS["k1"]["public"], KEYS["k2"]["public"]]}


def private_key(kid: str) -> Ed25519PrivateKey:
    d = KEYS[kid]["private"]["d"]
    return Ed25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode(d + "=" * (-len(d) % 4)))


def claims(**changes):
    base = {
        "iss": ISSUER,
        "sub": USER,
        "aud": AUDIENCE,
        "exp": NOW_S - 100 + 300,
        "iat": NOW_S - 100,
        "nbf": NOW_S - 100,
        "jti": JTI,
        "client_id": AUDIENCE,
        "sid": SESSION,
        "tid": "t_default",
        "roles": ["reader"],
    }
    for name, value in changes.items():
        if value is DROP:
            base.pop(name, None)
        else:
            base[name] = value
    return base


DROP = object()


def header(**changes):
    base = {"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"}
    for name, value in changes.items():
        if value is DROP:
            base.pop(name, None)
        else:
            base[name] = value
    return base


def sign(head=None, body=None, signer="k1", raw_body=None) -> str:
    """A compact JWS of `head` and `body` (or the exact JSON text `raw_body`), signed with
    the Ed25519 key `signer`."""
    head = header() if head is None else head
    payload = b64(raw_body.encode()) if raw_body is not None else b64_json(claims() if body is None else body)
    message = f"{b64_json(head)}.{payload}"
    return f"{message}.{b64(private_key(signer).sign(message.encode()))}"


def sign_segments(head, payload_segment: str, signer="k1") -> str:
    """A token whose payload segment is `payload_segment` as is (not necessarily base64url),
    signed with `signer`."""
    message = f"{b64_json(head)}.{payload_segment}"
    return f"{message}.{b64(private_key(signer).sign(message.encode()))}"


def hs256_with_public_key() -> str:
    """The classic confusion attack: HS256 keyed with the published public key."""
    message = f"{b64_json(header(alg='HS256'))}.{b64_json(claims())}"
    secret = KEYS["k1"]["public"]["x"].encode()
    return f"{message}.{b64(hmac.new(secret, message.encode(), hashlib.sha256).digest())}"


def unsigned() -> str:
    return f"{b64_json(header(alg='none'))}.{b64_json(claims())}."


def flip_signature(token: str) -> str:
    """The same token with one bit of its signature changed (canonical base64 still)."""
    head, body, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[10] ^= 0x01
    return f"{head}.{body}.{b64(bytes(raw))}"


def swap_payload(token: str, body) -> str:
    head, _, signature = token.split(".")
    return f"{head}.{b64_json(body)}.{signature}"


def noncanonical_signature(token: str) -> str:
    """The last base64 character of the signature with its unused low bits set: the same
    bytes to a lenient decoder, not valid base64url to a strict one."""
    head, body, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    return f"{head}.{body}.{signature[:-1]}{alphabet[last | 0b11]}"


def event(kind, seq, occurred, **fields):
    """An event as Scimitar serves it on the feed and the stream."""
    body = {
        "seq": seq,
        "type": kind,
        "occurred": occurred,
        "user": fields.get("user", USER),
        "session": fields.get("session"),
        "jti": fields.get("jti"),
        "not_before": fields.get("not_before"),
        "cause": f"audit-{seq}",
        "details": fields.get("details", {}),
    }
    return body


def received(event_body, when=None):
    """An event as the guard received it: at `when` (default: when it occurred)."""
    return {"received": when or event_body["occurred"], "event": event_body}


CASES = []


def case(name, token, expect, *, config=None, events=(), quiet_for_ms=1000, now=None, introspection=None):
    entry = {
        "name": name,
        "token": token,
        "jwks": JWKS,
        "config": {**CONFIG, **(config or {})},
        "events": list(events),
        "clock": {"now": now or at(0), "quiet_for_ms": quiet_for_ms},
        "expect": expect,
    }
    if introspection is not None:
        entry["introspection"] = introspection
    CASES.append(entry)


def accept(**extra):
    return {"decision": "accept", "introspected": False, "sub": USER, **extra}


def refuse(code, introspected=False):
    return {"decision": "refuse", "code": code, "introspected": introspected}


# --- Valid tokens -------------------------------------------------------------------------
case("a valid token is accepted", sign(), accept())
case("typ application/at+jwt is accepted", sign(header(typ="application/at+jwt")), accept())
case("typ is compared without regard to case", sign(header(typ="AT+JWT")), accept())
case("a token of the second published key is accepted", sign(header(kid="k2"), signer="k2"), accept())
case(
    "any configured audience is accepted",
    sign(body=claims(aud="reports")),
    accept(),
    config={"audience": [AUDIENCE, "reports"]},
)

# --- Time ---------------------------------------------------------------------------------
case("expired beyond the leeway", sign(body=claims(exp=NOW_S - 61)), refuse("expired"))
case("expired within the leeway is accepted", sign(body=claims(exp=NOW_S - 60)), accept())
case("not yet valid beyond the leeway", sign(body=claims(nbf=NOW_S + 61)), refuse("not_yet_valid"))
case("not yet valid within the leeway is accepted", sign(body=claims(nbf=NOW_S + 60)), accept())
case(
    "a smaller leeway refuses sooner",
    sign(body=claims(exp=NOW_S - 11)),
    refuse("expired"),
    config={"leeway_seconds": 10},
)
case(
    "expiry is judged before the issuer",
    sign(body=claims(exp=NOW_S - 600, iss="https://elsewhere.test")),
    refuse("expired"),
)

# --- Issuer and audience ------------------------------------------------------------------
case("wrong issuer", sign(body=claims(iss="https://elsewhere.test")), refuse("wrong_issuer"))
case("issuer with a trailing slash is another issuer", sign(body=claims(iss=ISSUER + "/")), refuse("wrong_issuer"))
case("wrong audience", sign(body=claims(aud="another-app")), refuse("wrong_audience"))
case(
    "the issuer is judged before the audience",
    sign(body=claims(iss="https://elsewhere.test", aud="another-app")),
    refuse("wrong_issuer"),
)

# --- Header: typ, alg, kid ----------------------------------------------------------------
case("typ JWT is not an access token", sign(header(typ="JWT")), refuse("wrong_type"))
case("typ missing", sign(header(typ=DROP)), refuse("wrong_type"))
case("typ null", sign(header(typ=None)), refuse("wrong_type"))
case("typ is judged before alg", sign(header(typ="JWT", alg="HS256")), refuse("wrong_type"))
case("alg none is not a JOSE algorithm the guard reads", unsigned(), refuse("malformed"))
case("HS256 keyed with the public key", hs256_with_public_key(), refuse("wrong_algorithm"))
case("RS256 is not EdDSA", sign(header(alg="RS256")), refuse("wrong_algorithm"))
case("alg missing", sign(header(alg=DROP)), refuse("malformed"))
case("alg as a list", sign(header(alg=["EdDSA"])), refuse("malformed"))
case("typ as a number", sign(header(typ=1)), refuse("malformed"))
case("kid as a number", sign(header(kid=1)), refuse("malformed"))
case("unknown kid", sign(header(kid="k9")), refuse("unknown_key"))
case("kid missing", sign(header(kid=DROP)), refuse("unknown_key"))
case(
    "an unknown kid is judged before the signature",
    flip_signature(sign(header(kid="k9"))),
    refuse("unknown_key"),
)

# --- Signature ----------------------------------------------------------------------------
case("signed by a key that is not published", sign(signer="stranger"), refuse("bad_signature"))
case("one bit of the signature changed", flip_signature(sign()), refuse("bad_signature"))
case(
    "claims changed after signing",
    swap_payload(sign(), claims(roles=["admin"])),
    refuse("bad_signature"),
)
case("signed by the other published key", sign(header(kid="k1"), signer="k2"), refuse("bad_signature"))
case(
    "the signature is judged before the claims",
    sign(body=claims(exp=NOW_S - 600), signer="stranger"),
    refuse("bad_signature"),
)
case("signature not in canonical base64url", noncanonical_signature(sign()), refuse("malformed"))
case(
    "a payload that is not base64url, under a good signature",
    sign_segments(header(), "not*base64"),
    refuse("malformed"),
)
case(
    "a payload with a character outside base64url is judged by the signature first",
    flip_signature(sign_segments(header(), "caf\u00e9")),
    refuse("bad_signature"),
)

# --- Malformed ----------------------------------------------------------------------------
case("not a JWT", "nonsense", refuse("malformed"))
case("two segments", ".".join(sign().split(".")[:2]), refuse("malformed"))
case("four segments", sign() + ".x", refuse("malformed"))
case("header not JSON", b64(b"not json") + "." + ".".join(sign().split(".")[1:]), refuse("malformed"))
case("a claim missing (jti)", sign(body=claims(jti=DROP)), refuse("malformed"))
case("exp as a string", sign(body=claims(exp=str(NOW_S + 200))), refuse("malformed"))
case("exp as a fraction", sign(body=claims(exp=NOW_S + 200.5)), refuse("malformed"))
case("exp negative", sign(body=claims(exp=-1)), refuse("malformed"))
case("aud as a list", sign(body=claims(aud=[AUDIENCE])), refuse("malformed"))
case("roles missing is accepted (no roles)", sign(body=claims(roles=DROP)), accept())
raw = json.dumps(claims(), separators=(",", ":"))
case(
    "a claim given twice",
    sign(raw_body=raw[:-1] + f',"sub":"{USER}"' + "}"),
    refuse("malformed"),
)
case("crit null is no critical parameter", sign(header(crit=None)), accept())
case(
    "a header member with a lone surrogate",
    sign(header(note="\ud800")),
    refuse("malformed"),
)
case(
    "crit is refused once the key is known",
    sign(header(crit=["exp"])),
    refuse("malformed"),
)

# --- Revocations --------------------------------------------------------------------------
revoked_session = event("session.revoked", 7, at(-30), session=SESSION, details={"reason": "user_deactivated"})
case("revoked session (sid)", sign(), refuse("revoked_session"), events=[received(revoked_session)])
case(
    "another session of the user stays valid",
    sign(body=claims(sid="another-session", jti="another-jti")),
    accept(),
    events=[received(revoked_session)],
)
revoked_token = event("token.revoked", 8, at(-20), session=SESSION, jti=JTI)
case("revoked token (jti)", sign(), refuse("revoked_token"), events=[received(revoked_token)])
case(
    "another token of the same session stays valid",
    sign(body=claims(jti="another-jti")),
    accept(),
    events=[received(revoked_token)],
)
case(
    "a revoked session is judged before a revoked token",
    sign(),
    refuse("revoked_session"),
    events=[received(revoked_token), received(revoked_session)],
)
disabled = event("user.disabled", 9, at(-50), not_before=at(-50), details={"reason": "deactivated"})
case(
    "user not_before: a token issued before it",
    sign(body=claims(iat=NOW_S - 100)),
    refuse("user_not_before"),
    events=[received(disabled)],
)
case(
    "user not_before: a token issued in its second",
    sign(body=claims(iat=NOW_S - 50)),
    refuse("user_not_before"),
    events=[received(disabled)],
)
case(
    "user not_before: a token issued after it",
    sign(body=claims(iat=NOW_S - 49)),
    accept(),
    events=[received(disabled)],
)
case(
    "user not_before: another user is not concerned",
    sign(body=claims(sub="another-user")),
    accept(sub="another-user"),
    events=[received(disabled)],
)
case(
    "user.enabled revives nothing",
    sign(body=claims(iat=NOW_S - 100)),
    refuse("user_not_before"),
    events=[received(disabled), received(event("user.enabled", 10, at(-40)))],
)
case(
    "a later not_before replaces an earlier one",
    sign(body=claims(iat=NOW_S - 45)),
    refuse("user_not_before"),
    events=[
        received(disabled),
        received(event("user.disabled", 11, at(-40), not_before=at(-40))),
    ],
)
case(
    "an earlier not_before does not replace a later one",
    sign(body=claims(iat=NOW_S - 45)),
    refuse("user_not_before"),
    events=[
        received(event("user.disabled", 11, at(-40), not_before=at(-40))),
        received(disabled, at(-39)),
    ],
)
case(
    "events that revoke nothing are ignored",
    sign(),
    accept(),
    events=[
        received(event("user.roles_changed", 12, at(-10), details={"gained": [], "lost": ["x"]})),
        received(event("flag.raised", 13, at(-9), user=None)),
    ],
)
case(
    "an unreadable event is skipped",
    sign(),
    accept(),
    events=[received(event("session.revoked", 14, "yesterday", session=SESSION))],
)

# --- The horizon: entries forgotten once every token they cover has expired ---------------
short = {"max_token_lifetime_seconds": 120, "leeway_seconds": 60}  # horizon: 180 s
long_lived = claims(exp=NOW_S + 3000)  # outlives the configured lifetime, so only the horizon decides
case(
    "an entry is held until its horizon",
    sign(body=long_lived),
    refuse("revoked_session"),
    config=short,
    events=[received(event("session.revoked", 20, at(-179.5), session=SESSION))],
)
case(
    "an entry is forgotten after its horizon",
    sign(body=long_lived),
    accept(),
    config=short,
    events=[received(event("session.revoked", 20, at(-180.5), session=SESSION))],
)
case(
    "a revoked jti is forgotten after its horizon",
    sign(body=long_lived),
    accept(),
    config=short,
    events=[received(event("token.revoked", 21, at(-181), session=SESSION, jti=JTI))],
)
case(
    "a not_before is forgotten after its horizon",
    sign(body={**long_lived, "iat": NOW_S - 400}),
    accept(),
    config=short,
    events=[received(event("user.disabled", 22, at(-181), not_before=at(-181)))],
)
case(
    "an event received after its horizon changes nothing",
    sign(body=long_lived),
    accept(),
    config=short,
    events=[received(event("session.revoked", 23, at(-200), session=SESSION), at(-10))],
)

# --- A stale view: refuse, or introspect --------------------------------------------------
case("stale (quiet past the bound): refused", sign(), refuse("stale_view"), quiet_for_ms=45001)
case("quiet exactly the bound is still fresh", sign(), accept(), quiet_for_ms=45000)
case("never heard: stale", sign(), refuse("stale_view"), quiet_for_ms=None)
case(
    "a shorter bound",
    sign(),
    refuse("stale_view"),
    config={"stale_after_ms": 1000},
    quiet_for_ms=1500,
)
case(
    "stale, introspect: active",
    sign(),
    accept(introspected=True),
    config={"on_stale": "introspect"},
    quiet_for_ms=60000,
    introspection="active",
)
case(
    "stale, introspect: not active",
    sign(),
    refuse("inactive", introspected=True),
    config={"on_stale": "introspect"},
    quiet_for_ms=60000,
    introspection="inactive",
)
case(
    "stale, introspect: Scimitar unreachable",
    sign(),
    refuse("unavailable", introspected=True),
    config={"on_stale": "introspect"},
    quiet_for_ms=60000,
    introspection="unreachable",
)
case(
    "fresh, introspect configured: not asked",
    sign(),
    accept(),
    config={"on_stale": "introspect"},
    introspection="inactive",
)
case(
    "stale, introspect: a known revocation refuses without asking",
    sign(),
    refuse("revoked_session"),
    config={"on_stale": "introspect"},
    quiet_for_ms=60000,
    events=[received(revoked_session)],
    introspection="active",
)
case(
    "stale, introspect: an expired token is refused without asking",
    sign(body=claims(exp=NOW_S - 600)),
    refuse("expired"),
    config={"on_stale": "introspect"},
    quiet_for_ms=60000,
    introspection="active",
)
case(
    "stale, refuse: a known revocation still names itself",
    sign(),
    refuse("revoked_token"),
    quiet_for_ms=None,
    events=[received(revoked_token)],
)


def main():
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "case names are unique"
    document = {
        "about": (
            "Conformance cases of the Scimitar guards (Rust, Python, Node), written by "
            "guard/vectors/generate.py. The keys are test-only. Each case: a token, the JWKS, "
            "the events received (with the time each arrived), the clock (now, and how long "
            "the stream has been quiet; null: never heard), the configuration, and the "
            "expected decision. 'introspection' is Scimitar's answer if the guard asks: "
            "active, inactive or unreachable."
        ),
        "keys": KEYS,
        "cases": CASES,
    }
    OUT.write_text(json.dumps(document, indent=1) + "\n")
    print(f"{len(CASES)} cases written to {OUT.name}")


if __name__ == "__main__":
    main()
