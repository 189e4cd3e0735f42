"""The few HTTP requests a guard makes to Scimitar (JWKS, feed, stream, introspection), with
the standard library only. Every failure is a `Rejection('unavailable')`."""

from __future__ import annotations

import base64
import urllib.error
import urllib.parse
import urllib.request
from typing import Dict, Optional, Tuple

from .errors import UNAVAILABLE, Rejection

Credentials = Tuple[str, str]


def basic(credentials: Credentials) -> str:
    """An HTTP Basic `Authorization` value for the app client's id and secret."""
    client_id, secret = credentials
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def open_url(
    url: str,
    *,
    timeout: float,
    what: str,
    credentials: Optional[Credentials] = None,
    form: Optional[Dict[str, str]] = None,
    headers: Optional[Dict[str, str]] = None,
):
    """Sends a GET (or a POST of `form`) and returns the open response of a 2xx answer.
    `timeout` bounds the connection and each read of the response."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    if credentials is not None:
        request.add_header("Authorization", basic(credentials))
    if form is not None:
        request.data = urllib.parse.urlencode(form).encode()
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        raise Rejection(UNAVAILABLE, f"{what}: status {error.code}") from None
    except (OSError, ValueError) as error:  # refused, timed out, DNS, TLS, bad URL
        raise Rejection(UNAVAILABLE, f"{what}: {error}") from None


def fetch(url: str, *, timeout: float, what: str, **options) -> bytes:
    """The body of a 2xx answer."""
    response = open_url(url, timeout=timeout, what=what, **options)
    try:
        with response:
            return response.read()
    except OSError as error:
        raise Rejection(UNAVAILABLE, f"{what}: {error}") from None
