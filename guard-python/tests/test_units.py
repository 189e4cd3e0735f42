"""The guard's parts without Scimitar: the bearer header, the challenge, the SSE parser, the
key cache's cooldown and single flight (against a local JWKS server), and the middlewares'
answers to a refusal."""

import asyncio
import http.server
import json
import pathlib
import threading
import time

import pytest

from scimitar_guard import Rejection, bearer
from scimitar_guard.asgi import GuardMiddleware as ASGIGuard
from scimitar_guard.keys import KeyCache
from scimitar_guard.stream import SseParser, read_event
from scimitar_guard.wsgi import GuardMiddleware as WSGIGuard
from scimitar_guard.wsgi import header_text

VECTORS = json.loads((pathlib.Path(__file__).resolve().parents[2] / "guard" / "vectors.json").read_text())
JWKS = json.dumps({"keys": [VECTORS["keys"]["k1"]["public"]]}).encode()


@pytest.mark.parametrize(
    "value, token",
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER   abc  ", "abc"),
        (None, None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic abc", None),
        ("Bearer\tabc", None),
    ],
)
def test_the_bearer_token_of_an_authorization_header(value, token):
    if token is None:
        with pytest.raises(Rejection) as refusal:
            bearer(value)
        assert refusal.value.code == "missing"
    else:
        assert bearer(value) == token


def test_challenges_and_statuses():
    assert Rejection("missing").challenge() == "Bearer"
    assert Rejection("expired").challenge() == 'Bearer error="invalid_token", error_description="expired"'
    assert (Rejection("expired").status, Rejection("unavailable").status) == (401, 503)
    with pytest.raises(ValueError):
        Rejection("no_such_code")
    assert header_text("Bearer \x7f") is None and header_text("Bearer é") is None
    assert header_text("Bearer\tx") == "Bearer\tx"


def test_events_are_split_across_chunks_and_comments_carry_nothing():
    parser = SseParser()
    assert parser.push(b"retry: 1000\n: from 3\n\nid: 4\nevent: x\nda") == [(None, None)]
    assert parser.push(b'ta: {"a":1}\r\n\r\n: keep-alive\n\n') == [(4, '{"a":1}'), (None, None)]
    assert parser.push(b"id: x\ndata: a\ndata: b\n\n") == [(None, "a\nb")]
    # A character split between two chunks survives.
    assert parser.push("data: é".encode()[:-1]) == []
    assert parser.push("data: é\n\n".encode()[-3:]) == [(None, "é")]


def test_events_are_read_as_strictly_as_the_rust_guard_reads_them():
    event = read_event(b'{"seq":3,"type":"session.revoked","session":"s","occurred":"2026-01-01T00:00:00.5Z"}')
    assert (event.seq, event.session, event.occurred % 1_000_000) == (3, "s", 500_000)
    for bad in [
        b'{"seq":3.0,"type":"x"}',
        b'{"seq":3,"seq":4,"type":"x"}',
        b'{"type":"x"}',
        b'{"seq":3,"type":"x","occurred":"yesterday"}',
        b"[1]",
    ]:
        with pytest.raises(ValueError):
            read_event(bad)


class _Jwks(http.server.BaseHTTPRequestHandler):
    fetches = 0
    delay = 0.0

    def do_GET(self):
        type(self).fetches += 1
        time.sleep(type(self).delay)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(JWKS)))
        self.end_headers()
        self.wfile.write(JWKS)

    def log_message(self, *_):
        pass


@pytest.fixture
def jwks_server():
    _Jwks.fetches, _Jwks.delay = 0, 0.0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()


def test_an_unknown_kid_fetches_once_per_cooldown_and_concurrent_callers_share_a_fetch(jwks_server):
    keys = KeyCache(jwks_server, cooldown=0.5, timeout=5)
    keys.load()
    assert keys.get("k1") is not None and keys.fetches == 1
    for _ in range(5):
        with pytest.raises(Rejection) as refusal:
            keys.get("k9")
        assert refusal.value.code == "unknown_key"
    assert keys.fetches == 1, "the fetch at start counts towards the cooldown"
    time.sleep(0.6)
    _Jwks.delay = 0.2
    codes = []

    def ask():
        try:
            keys.get("k9")
        except Rejection as rejection:
            codes.append(rejection.code)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == ["unknown_key"] * 8
    assert keys.fetches == 2, "one fetch for eight concurrent callers"


def test_an_unreachable_jwks_is_unavailable_and_starts_the_cooldown():
    keys = KeyCache("http://127.0.0.1:9/jwks.json", cooldown=30, timeout=2)
    with pytest.raises(Rejection) as refusal:
        keys.get("k1")
    assert refusal.value.code == "unavailable"
    with pytest.raises(Rejection) as refusal:
        keys.get("k1")
    assert refusal.value.code == "unknown_key"
    assert keys.fetches == 1


class _Refusing:
    """A guard that refuses every token with `code`."""

    def __init__(self, code):
        self.code = code

    def check_header(self, value):
        bearer(value)
        raise Rejection(self.code)

    async def check_header_async(self, value):
        return self.check_header(value)


def test_the_asgi_middleware_refuses_http_and_websocket_and_passes_lifespan():
    sent = []

    async def app(scope, receive, send):
        sent.append(("app", scope["type"]))

    async def send(message):
        sent.append(message)

    async def run():
        guard = ASGIGuard(app, guard=_Refusing("unavailable"))
        await guard({"type": "http", "headers": [(b"authorization", b"Bearer x")]}, None, send)
        await guard({"type": "websocket", "headers": []}, None, send)
        await guard({"type": "lifespan"}, None, send)

    asyncio.run(run())
    start = sent[0]
    assert start["status"] == 503
    assert dict(start["headers"])[b"www-authenticate"] == b'Bearer error="invalid_token", error_description="unavailable"'
    assert sent[1] == {"type": "http.response.body", "body": b""}
    assert sent[2] == {"type": "websocket.close", "code": 1008}
    assert sent[3] == ("app", "lifespan")


def test_the_wsgi_middleware_answers_a_refusal_without_calling_the_app():
    started = []
    app = WSGIGuard(lambda environ, start: pytest.fail("the app was called"), guard=_Refusing("expired"))
    body = app({"HTTP_AUTHORIZATION": "Bearer x"}, lambda status, headers: started.append((status, headers)))
    assert body == [b""]
    status, headers = started[0]
    assert status == "401 Unauthorized"
    assert dict(headers)["WWW-Authenticate"] == 'Bearer error="invalid_token", error_description="expired"'


class _FakeScimitar(http.server.BaseHTTPRequestHandler):
    """Scimitar's JWKS, feed and stream, as far as the follower goes: the feed holds event 1;
    the first stream connection sends event 2 and ends; later ones send a heartbeat and end."""

    streams = []  # (Last-Event-ID, Authorization) of each stream connection

    def do_GET(self):
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.path.startswith("/.well-known/jwks.json"):
            self._send(JWKS)
        elif self.path.startswith("/events/v1/revocations?after=0&"):
            event = {"seq": 1, "type": "session.revoked", "session": "s1", "occurred": now}
            self._send(json.dumps({"events": [event], "next": 1, "head": 1, "more": False}).encode())
        elif self.path.startswith("/events/v1/revocations"):
            self._send(b'{"events": [], "next": 1, "head": 1, "more": false}')
        elif self.path.startswith("/events/v1/stream"):
            type(self).streams.append((self.headers["Last-Event-ID"], self.headers["Authorization"]))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            if len(type(self).streams) == 1:
                event = {"seq": 2, "type": "session.revoked", "session": "s2", "occurred": now}
                self.wfile.write(f"retry: 1000\n\nid: 2\nevent: session.revoked\ndata: {json.dumps(event)}\n\n".encode())
            else:
                self.wfile.write(b": heartbeat\n\n")
                time.sleep(0.2)

    def _send(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_):
        pass


def test_the_stream_resumes_with_last_event_id_after_the_feed_and_after_each_disconnect():
    from scimitar_guard import Config, Guard

    _FakeScimitar.streams = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeScimitar)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with Guard.start(Config(issuer=root, client_id="app", client_secret="secret", stale_after=2)) as guard:
            deadline = time.monotonic() + 3
            while len(_FakeScimitar.streams) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
            status = guard.status()
        assert [cursor for cursor, _ in _FakeScimitar.streams[:3]] == ["1", "2", "2"]
        assert _FakeScimitar.streams[0][1] == "Basic YXBwOnNlY3JldA=="  # app:secret
        assert (status.cursor, status.entries, status.fresh) == (2, 2, True)
        assert status.reconnects >= 2
    finally:
        server.shutdown()
