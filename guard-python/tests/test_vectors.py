"""The conformance vectors (guard/vectors.json, shared with the Rust and Node guards) through
this guard's decision core: each case's token, keys, received events, clock and configuration
give the decision and refusal code the case expects."""

import json
import pathlib

import pytest

from scimitar_guard import Config, Rejection
from scimitar_guard.core import decide, keys_from_jwks
from scimitar_guard.errors import CODES, INACTIVE, MISSING, UNAVAILABLE
from scimitar_guard.revocations import Event, RevocationSet, parse_time

VECTORS = json.loads((pathlib.Path(__file__).resolve().parents[2] / "guard" / "vectors.json").read_text())
CASES = VECTORS["cases"]


def config_of(case):
    c = case["config"]
    return Config(
        issuer=c["issuer"],
        client_id="app",
        client_secret="secret",
        audience=c["audience"],
        leeway=c["leeway_seconds"],
        max_token_lifetime=c["max_token_lifetime_seconds"],
        stale_after=c["stale_after_ms"] / 1000,
        on_stale=c["on_stale"],
    )


def view_of(case, config):
    """The revocation view after the case's events, each applied when it was received; an
    event the guard cannot read is skipped, as the stream follower does."""
    revocations = RevocationSet(config.horizon)
    for received in case["events"]:
        try:
            event = Event.from_json(received["event"])
        except ValueError:
            continue
        revocations.apply(event, parse_time(received["received"]))
    return revocations


def run(case):
    """The decision: ("accept", sub) or ("refuse", code), and whether Scimitar was asked."""
    config = config_of(case)
    keys = keys_from_jwks(json.dumps(case["jwks"]).encode())
    quiet_ms = case["clock"]["quiet_for_ms"]
    decision = decide(
        case["token"],
        keys,
        view_of(case, config),
        parse_time(case["clock"]["now"]),
        None if quiet_ms is None else quiet_ms / 1000,
        config,
    )
    if decision.kind == "accept":
        return ("accept", decision.claims.sub), False
    if decision.kind == "refuse":
        return ("refuse", decision.rejection.code), False
    assert decision.kind == "introspect", decision
    answer = case.get("introspection")
    outcome = {
        "active": ("accept", decision.claims.sub),
        "inactive": ("refuse", INACTIVE),
        "unreachable": ("refuse", UNAVAILABLE),
    }.get(answer)
    assert outcome is not None, f"introspection asked, but the case gives {answer!r}"
    return outcome, True


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector(case):
    expect = case["expect"]
    wanted = ("accept", expect["sub"]) if expect["decision"] == "accept" else ("refuse", expect["code"])
    assert run(case) == (wanted, expect["introspected"])


def test_the_vectors_cover_every_refusal_but_a_missing_token():
    expected = {case["expect"].get("code") for case in CASES} - {None}
    assert expected == set(CODES) - {MISSING}
    assert len(CASES) >= 40
    assert Rejection(MISSING).challenge() == "Bearer"
