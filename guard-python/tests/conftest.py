"""Fixtures of the end-to-end tests: the real Scimitar (skipped, with a message, when
SCIMITAR_BIN does not name the binary; the repository's `cargo test` always sets it)."""

import pytest

from scimitar_server import Scimitar, binary


def _require_binary():
    if not binary():
        pytest.skip("SCIMITAR_BIN is not set: build scimitar and point SCIMITAR_BIN at it")


@pytest.fixture(scope="module")
def scimitar():
    """One server for a module's tests that leave it running."""
    _require_binary()
    server = Scimitar()
    yield server
    server.close()


@pytest.fixture
def own_scimitar():
    """A server of the test's own, which it may stop."""
    _require_binary()
    server = Scimitar()
    yield server
    server.close()
