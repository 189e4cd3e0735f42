"""A tiny API behind Scimitar, protected by the Python guard in one line (WSGI): every request
needs a valid, unrevoked access token, checked offline; a deactivated user's token is refused
within milliseconds, from the revocation stream. The server is the standard library's
(wsgiref, one thread per request); any WSGI server (gunicorn, uWSGI) serves it the same way.

    SCIMITAR_URL=http://127.0.0.1:8080 CLIENT_ID=... CLIENT_SECRET=... \\
      python guard-python/examples/guarded_app.py      # listens on 127.0.0.1:3001 (BIND overrides)
    curl -H "authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:3001/me

The Rust guard's example (examples/guarded-app) and the Node one
(guard-node/examples/guarded-app.js) answer the same; benches/guard_latency measures all three.
"""

import json
import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from scimitar_guard import CLAIMS, Config, Guard


def me(environ, start_response):
    """Who is calling, and with which roles."""
    claims = environ[CLAIMS]
    body = json.dumps({"user": claims.sub, "roles": list(claims.roles)}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the standard library's name
        pass


def main() -> None:
    def var(name: str) -> str:
        value = os.environ.get(name)
        if not value:
            sys.exit(f"set {name}")
        return value

    guard = Guard.start(Config(issuer=var("SCIMITAR_URL"), client_id=var("CLIENT_ID"), client_secret=var("CLIENT_SECRET")))
    application = guard.wsgi(me)  # the one line
    host, _, port = os.environ.get("BIND", "127.0.0.1:3001").rpartition(":")
    server = make_server(host, int(port), application, server_class=ThreadingServer, handler_class=QuietHandler)
    print(f"guarded-app listening on {host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        guard.close()


if __name__ == "__main__":
    main()
