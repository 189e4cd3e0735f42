"""The guard against the real Scimitar: a token accepted offline, refused soon after a SCIM
deactivation and after an RFC 7009 revocation (without introspection), forged and expired
tokens refused, both middlewares (ASGI in FastAPI and Starlette, WSGI in Flask), and failing
closed once the stream stops: refusing, or introspecting (and Scimitar, down, cannot answer:
503)."""

import base64
import json
import time

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from flask import Flask
from flask import request as flask_request
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from scimitar_guard import ASGIGuard, CLAIMS, Config, Guard, OnStale, Rejection

#: How long a revocation may take to reach the guard in these tests.
WITHIN = 2.0


def config(server, client, **options):
    return Config(issuer=server.root, client_id=client[0], client_secret=client[1], **options)


def refused(check, token, within=WITHIN):
    """Checks until the token is refused; its refusal and how long that took."""
    start = time.monotonic()
    while True:
        try:
            check(token)
        except Rejection as rejection:
            return rejection, time.monotonic() - start
        assert time.monotonic() - start < within, f"still accepted after {within} s"
        time.sleep(0.01)


def code(check, token):
    with pytest.raises(Rejection) as refusal:
        check(token)
    return refusal.value.code


def with_payload(token, **changes):
    """The token with claims changed and its signature kept: a forgery."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def with_kid(token, kid):
    header, rest = token.split(".", 1)
    fields = json.loads(base64.urlsafe_b64decode(header + "=="))
    fields["kid"] = kid
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=").decode() + "." + rest


@pytest.fixture(scope="module")
def client(scimitar):
    return scimitar.app_client()


@pytest.fixture(scope="module")
def guard(scimitar, client):
    with Guard.start(config(scimitar, client)) as started:
        yield started


def test_a_valid_token_is_accepted_offline_then_refused_soon_after_a_scim_deactivation(scimitar, client, guard):
    user = scimitar.create_user("ada@example.com")
    token = scimitar.access_token(client, user)
    claims = guard.check(token)
    assert (claims.sub, claims.aud) == (user, client[0])
    scimitar.deactivate(user)
    rejection, after = refused(guard.check, token)
    assert rejection.code in ("revoked_session", "user_not_before"), rejection
    assert after < WITHIN
    status = guard.status()
    assert status.introspections == 0 and status.fresh and status.entries > 0, status


def test_an_rfc7009_revocation_refuses_that_tokens_session(scimitar, client, guard):
    user = scimitar.create_user("grace@example.com")
    revoked, kept = scimitar.access_token(client, user), scimitar.access_token(client, user)
    guard.check(revoked)
    scimitar.revoke(client, revoked)
    rejection, _ = refused(guard.check, revoked)
    assert rejection.code == "revoked_session"  # the token's session ends with it
    assert guard.check(kept).sub == user
    assert guard.status().introspections == 0


def test_a_revocation_before_the_guard_started_is_read_from_the_feed(scimitar, client):
    user = scimitar.create_user("edsger@example.com")
    token = scimitar.access_token(client, user)
    scimitar.deactivate(user)
    with Guard.start(config(scimitar, client)) as late:
        assert code(late.check, token) in ("revoked_session", "user_not_before")


def test_forged_expired_and_foreign_tokens_are_refused(scimitar, client, guard):
    user = scimitar.create_user("barbara@example.com")
    token = scimitar.access_token(client, user)
    assert code(guard.check, with_payload(token, roles=["admin"])) == "bad_signature"
    assert code(guard.check, with_payload(token, sub="someone-else")) == "bad_signature"
    assert code(guard.check, "nonsense") == "malformed"
    fetches = guard.status().jwks_fetches
    assert code(guard.check, with_kid(token, "not-a-key")) == "unknown_key"
    # The cooldown (30 s) started at start-up: no fetch for this one.
    assert guard.status().jwks_fetches == fetches
    # An hour from now the token (5 minutes) has expired.
    with Guard.start(config(scimitar, client), clock=lambda: time.time() + 3600) as later:
        assert code(later.check, token) == "expired"
    with Guard.start(config(scimitar, client, audience=["another-app"])) as other:
        assert code(other.check, token) == "wrong_audience"


def test_an_unknown_kid_refreshes_the_keys_once_per_cooldown(scimitar, client):
    token = scimitar.access_token(client, scimitar.create_user("alan@example.com"))
    with Guard.start(config(scimitar, client, jwks_cooldown=0.3)) as guard:
        assert guard.status().jwks_fetches == 1
        time.sleep(0.4)
        for n in range(10):
            assert code(guard.check, with_kid(token, f"unknown-{n}")) == "unknown_key"
        assert guard.status().jwks_fetches == 2, "one refresh, then the cooldown"
        assert guard.check(token).sub


def fastapi_app(guard):
    app = FastAPI()
    app.add_middleware(ASGIGuard, guard=guard)

    @app.get("/me")
    def me(request: Request):
        return {"sub": request.state.claims.sub, "roles": list(request.state.claims.roles)}

    return app


def starlette_app(guard):
    async def me(request):
        return PlainTextResponse(request.state.claims.sub)

    return guard.asgi(Starlette(routes=[Route("/me", me)]))


def flask_app(guard):
    app = Flask("guarded")

    @app.get("/me")
    def me():
        return {"sub": flask_request.environ[CLAIMS].sub}

    app.wsgi_app = guard.wsgi(app.wsgi_app)
    return app.test_client()


def frameworks(guard):
    """(name, a client whose get(path, headers=…) returns a response) per framework."""
    return [
        ("fastapi", TestClient(fastapi_app(guard))),
        ("starlette", TestClient(starlette_app(guard))),
        ("flask", flask_app(guard)),
    ]


def body_text(response):
    return response.text if hasattr(response, "text") else response.get_data(as_text=True)


def test_the_middlewares_admit_accepted_tokens_and_answer_401_with_a_challenge(scimitar, client, guard):
    user = scimitar.create_user("margaret@example.com")
    token, revoked = scimitar.access_token(client, user), scimitar.access_token(client, user)
    scimitar.revoke(client, revoked)
    refused(guard.check, revoked)
    gone = scimitar.create_user("katherine@example.com")
    deactivated = scimitar.access_token(client, gone)
    scimitar.deactivate(gone)
    refused(guard.check, deactivated)
    with Guard.start(config(scimitar, client), clock=lambda: time.time() + 3600) as later:
        for (name, http), (_, http_later) in zip(frameworks(guard), frameworks(later)):
            ok = http.get("/me", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200 and user in body_text(ok), name
            bare = http.get("/me")
            assert (bare.status_code, bare.headers["www-authenticate"]) == (401, "Bearer"), name
            for sent, reasons, app in [
                (revoked, ["revoked_session"], http),
                (deactivated, ["revoked_session", "user_not_before"], http),
                ("nonsense", ["malformed"], http),
                (with_payload(token, sub="x"), ["bad_signature"], http),
                (token, ["expired"], http_later),
            ]:
                answer = app.get("/me", headers={"Authorization": f"Bearer {sent}"})
                assert answer.status_code == 401, (name, reasons)
                challenges = [f'Bearer error="invalid_token", error_description="{r}"' for r in reasons]
                assert answer.headers["www-authenticate"] in challenges, (name, answer.headers)
                assert body_text(answer) == "", name
            # Another scheme is no bearer token.
            basic = http.get("/me", headers={"Authorization": f"Basic {token}"})
            assert (basic.status_code, basic.headers["www-authenticate"]) == (401, "Bearer"), name


def test_a_quiet_stream_is_replaced_and_a_stopped_one_fails_closed(own_scimitar):
    server = own_scimitar
    client = server.app_client()
    token = server.access_token(client, server.create_user("frances@example.com"))
    refuse = Guard.start(config(server, client, stale_after=1.0))
    ask = Guard.start(config(server, client, stale_after=1.0, on_stale=OnStale.INTROSPECT))
    try:
        # Scimitar's heartbeat comes every 15 s; a connection silent for half the bound is
        # replaced, so the view stays fresh while Scimitar is up.
        time.sleep(2.5)
        for guard in (refuse, ask):
            assert guard.check(token).sub
            status = guard.status()
            assert status.fresh and status.reconnects >= 3, status
        assert ask.status().introspections == 0
        apps = {"refuse": frameworks(refuse), "ask": frameworks(ask)}
        server.stop()
        rejection, after = refused(refuse.check, token, within=4.0)
        assert rejection.code == "stale_view"
        assert 0.4 < after < 4.0, after
        # Introspecting while stale, with Scimitar down: it could not be asked.
        rejection, _ = refused(ask.check, token, within=4.0)
        assert rejection.code == "unavailable"
        assert ask.status().introspections >= 1
        for mode, status, reason in [("refuse", 401, "stale_view"), ("ask", 503, "unavailable")]:
            for name, http in apps[mode]:
                answer = http.get("/me", headers={"Authorization": f"Bearer {token}"})
                assert answer.status_code == status, (mode, name)
                assert f'error_description="{reason}"' in answer.headers["www-authenticate"], (mode, name)
    finally:
        refuse.close()
        ask.close()


def test_start_fails_when_scimitar_cannot_be_reached():
    with pytest.raises(Rejection) as refusal:
        Guard.start(Config(issuer="http://127.0.0.1:9", client_id="a", client_secret="b", request_timeout=2))
    assert refusal.value.code == "unavailable"
