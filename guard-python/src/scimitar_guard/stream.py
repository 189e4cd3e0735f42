"""Following Scimitar's revocation events: the feed to catch up at start, then the live
stream, resumed with `Last-Event-ID` after every disconnect, with backoff (100 ms doubling
to `max_backoff`). A connection silent for half the staleness bound is dropped and replaced:
Scimitar's heartbeat should have arrived by then, so the connection is likely dead."""

from __future__ import annotations

import codecs
import logging
import re
import socket
import threading
from typing import List, Optional, Tuple

from . import core, http
from .errors import UNAVAILABLE, Rejection
from .revocations import I64, Event
from .view import Shared

log = logging.getLogger("scimitar_guard")

MIN_BACKOFF = 0.1
EVENT_FIELDS = ("seq", "type", "occurred", "user", "session", "jti", "not_before")
_INTEGER = re.compile(r"[+-]?[0-9]+\Z")


def read_event(data: bytes) -> Event:
    """An event from its JSON text, as strictly as the Rust guard reads it (ValueError)."""
    return Event.from_json(core.read_fields(data, EVENT_FIELDS))


def catch_up(shared: Shared) -> None:
    """Pages through the feed from the current cursor until it is caught up."""
    config = shared.config
    while True:
        url = f"{config.events_base}/events/v1/revocations?after={shared.cursor}&limit=1000"
        body = http.fetch(
            url,
            timeout=config.request_timeout,
            what="feed",
            credentials=(config.client_id, config.client_secret),
        )
        try:
            page = core.read_fields(body, ("events", "next", "more"))
            events = page["events"]
            if not core.is_list(events) or not isinstance(page["more"], bool) or not core.is_int(page["next"]):
                raise ValueError("not a page of the feed")
            # One unreadable event refuses the whole page, as in the Rust guard.
            events = [Event.from_json(core.fields(item, EVENT_FIELDS)) for item in events]
        except (KeyError, ValueError, UnicodeDecodeError) as error:
            raise Rejection(UNAVAILABLE, f"feed: {error}") from None
        for event in events:
            shared.apply(event)
        shared.advance(page["next"])
        if not page["more"] or not events:
            shared.heard()
            return


class SseParser:
    """Splits a byte stream into server-sent events, across chunk boundaries: each block is
    its `id` (an integer, or None) and its `data` (None for comments and heartbeats)."""

    def __init__(self) -> None:
        self._pending = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, chunk: bytes) -> List[Tuple[Optional[int], Optional[str]]]:
        self._pending += self._decoder.decode(chunk).replace("\r", "")
        blocks = []
        while "\n\n" in self._pending:
            text, self._pending = self._pending.split("\n\n", 1)
            seq: Optional[int] = None
            data: Optional[str] = None
            for line in text.split("\n"):
                if line.startswith("id:"):
                    value = line[3:].strip()
                    seq = int(value) if _INTEGER.match(value) and I64[0] <= int(value) <= I64[1] else None
                elif line.startswith("data:"):
                    value = line[5:]
                    value = value[1:] if value.startswith(" ") else value
                    data = value if data is None else f"{data}\n{value}"
            blocks.append((seq, data))
        return blocks


class Follower:
    """Follows the stream on a daemon thread until `stop`."""

    def __init__(self, shared: Shared):
        self.shared = shared
        self._stop = threading.Event()
        self._response = None
        self._thread = threading.Thread(target=self._run, name="scimitar-guard-stream", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            _interrupt(response)
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def _run(self) -> None:
        backoff = MIN_BACKOFF
        while not self._stop.is_set():
            try:
                # The connection delivered something before it ended: reconnect at once.
                if self._read_stream():
                    backoff = MIN_BACKOFF
            except Exception as error:  # noqa: BLE001 - any failure means: reconnect
                log.debug("revocation stream failed; reconnecting: %s", error)
            if self._stop.is_set():
                return
            self.shared.reconnects += 1
            self._stop.wait(backoff)
            backoff = min(backoff * 2, max(self.shared.config.max_backoff, MIN_BACKOFF))

    def _read_stream(self) -> bool:
        """One connection: reads until it ends, fails, or stays silent for half the staleness
        bound. Returns whether anything was heard."""
        shared = self.shared
        config = shared.config
        quiet = max(config.stale_after / 2, 0.05)
        response = http.open_url(
            f"{config.events_base}/events/v1/stream",
            timeout=quiet,
            what="stream",
            credentials=(config.client_id, config.client_secret),
            headers={"Accept": "text/event-stream", "Last-Event-ID": str(shared.cursor)},
        )
        self._response = response
        parser = SseParser()
        heard = False
        try:
            while not self._stop.is_set():
                try:
                    chunk = response.read1(65536)
                except (socket.timeout, TimeoutError):
                    return heard
                if not chunk:
                    return heard
                heard = True
                for seq, data in parser.push(chunk):
                    if data is not None:
                        try:
                            shared.apply(read_event(data.encode()))
                        except (ValueError, UnicodeDecodeError) as error:
                            log.warning("unreadable event; skipped: %s", error)
                    if seq is not None:
                        shared.advance(seq)
                shared.heard()
            return heard
        finally:
            self._response = None
            response.close()


def _interrupt(response) -> None:
    """Ends a response another thread is reading: shutting its socket down wakes the reader at
    once (closing the response would wait for the reader's buffer lock)."""
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
