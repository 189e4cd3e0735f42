// Following Scimitar's revocation events: the feed to catch up at start, then the live
// stream, resumed with `Last-Event-ID` after every disconnect, with backoff (100 ms doubling
// to `maxBackoffMs`). A connection silent for half the staleness bound is dropped and
// replaced: Scimitar's heartbeat should have arrived by then, so it is likely dead.

import { Rejection } from './errors.js';
import { basic, fetchBytes } from './http.js';
import { readEvent, readEventText } from './revocations.js';
import { isI64, readObject, text } from './strict.js';

const MIN_BACKOFF_MS = 100;
const INTEGER = /^[+-]?[0-9]+$/;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** Pages through the feed from the current cursor until it is caught up. */
export async function catchUp(shared) {
  const { config } = shared;
  for (;;) {
    const url = `${config.eventsUrl}/events/v1/revocations?after=${shared.cursor}&limit=1000`;
    const body = await fetchBytes(url, {
      what: 'feed',
      timeoutMs: config.requestTimeoutMs,
      headers: { authorization: basic(config.clientId, config.clientSecret) },
    });
    let page;
    let events;
    try {
      const { value, raw } = readObject(text(body), ['events', 'next', 'more']);
      if (!Array.isArray(value.events) || typeof value.more !== 'boolean' || !isI64(raw, 'next')) {
        throw new Error('not a page of the feed');
      }
      page = value;
      // One unreadable event refuses the whole page, as in the Rust guard.
      events = value.events.map((event) => readEvent(event));
    } catch (error) {
      throw new Rejection('unavailable', `feed: ${error.message}`);
    }
    for (const event of events) shared.apply(event);
    shared.advance(page.next);
    if (!page.more || events.length === 0) {
      shared.heard();
      return;
    }
  }
}

/**
 * Splits a byte stream into server-sent events, across chunk boundaries: each block is
 * `{ id, data }` (`id` an integer or null, `data` null for comments and heartbeats).
 */
export class SseParser {
  #pending = '';
  #decoder = new TextDecoder('utf-8');

  push(chunk) {
    this.#pending += this.#decoder.decode(chunk, { stream: true }).replaceAll('\r', '');
    const blocks = [];
    let end;
    while ((end = this.#pending.indexOf('\n\n')) !== -1) {
      const block = this.#pending.slice(0, end);
      this.#pending = this.#pending.slice(end + 2);
      let id = null;
      let data = null;
      for (const line of block.split('\n')) {
        if (line.startsWith('id:')) {
          const value = line.slice(3).trim();
          id = INTEGER.test(value) && BigInt(value) >= I64_MIN && BigInt(value) <= I64_MAX ? Number(value) : null;
        } else if (line.startsWith('data:')) {
          let value = line.slice(5);
          if (value.startsWith(' ')) value = value.slice(1);
          data = data === null ? value : `${data}\n${value}`;
        }
      }
      blocks.push({ id, data });
    }
    return blocks;
  }
}

/** Follows the stream until `stop()`. */
export class Follower {
  #stopped = false;
  #controller = null;
  #wake = null;
  #done = null;

  constructor(shared, log) {
    this.shared = shared;
    this.log = log;
  }

  start() {
    this.#done = this.#run();
  }

  async stop() {
    this.#stopped = true;
    this.#controller?.abort();
    this.#wake?.();
    await this.#done;
  }

  async #run() {
    let backoff = MIN_BACKOFF_MS;
    while (!this.#stopped) {
      try {
        // The connection delivered something before it ended: reconnect at once.
        if (await this.#readStream()) backoff = MIN_BACKOFF_MS;
      } catch (error) {
        this.log.debug?.(`revocation stream failed; reconnecting: ${error.message}`);
      }
      if (this.#stopped) return;
      this.shared.reconnects += 1;
      await new Promise((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, backoff);
      });
      backoff = Math.min(backoff * 2, Math.max(this.shared.config.maxBackoffMs, MIN_BACKOFF_MS));
    }
  }

  // One connection: reads until it ends, fails, or stays silent for half the staleness
  // bound. Resolves to whether anything was heard.
  async #readStream() {
    const { shared } = this;
    const { config } = shared;
    const quiet = Math.max(config.staleAfterMs / 2, 50);
    const controller = new AbortController();
    this.#controller = controller;
    let timer = setTimeout(() => controller.abort(), quiet);
    try {
      const response = await fetch(`${config.eventsUrl}/events/v1/stream`, {
        headers: {
          authorization: basic(config.clientId, config.clientSecret),
          accept: 'text/event-stream',
          'last-event-id': String(shared.cursor),
        },
        signal: controller.signal,
      });
      if (!response.ok) throw new Error(`status ${response.status}`);
      const reader = response.body.getReader();
      const parser = new SseParser();
      let heard = false;
      for (;;) {
        clearTimeout(timer);
        timer = setTimeout(() => controller.abort(), quiet);
        let chunk;
        try {
          chunk = await reader.read();
        } catch (error) {
          if (controller.signal.aborted) return heard;
          throw error;
        }
        if (chunk.done) return heard;
        heard = true;
        for (const { id, data } of parser.push(chunk.value)) {
          if (data !== null) {
            try {
              shared.apply(readEventText(data));
            } catch (error) {
              this.log.warn?.(`unreadable event; skipped: ${error.message}`);
            }
          }
          if (id !== null) shared.advance(id);
        }
        shared.heard();
      }
    } finally {
      clearTimeout(timer);
      controller.abort();
      this.#controller = null;
    }
  }
}
