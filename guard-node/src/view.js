// State shared by `check` and the stream follower: the revocation set, the cursor, when
// Scimitar was last heard from, and the counters `guard.status()` reports.

import { horizonMs } from './config.js';
import { judge } from './core.js';
import { KeyCache } from './keys.js';
import { RevocationSet } from './revocations.js';

/** How often the set is pruned (on the follower's path, never on `check`'s). */
const PRUNE_EVERY_MS = 10_000;

export class Shared {
  #set;
  #heard = null;
  #pruned = performance.now();

  /** @param clock wall-clock milliseconds since the epoch (injectable for tests) */
  constructor(config, clock) {
    this.config = config;
    this.clock = clock;
    this.keys = new KeyCache(`${config.issuer}/.well-known/jwks.json`, config.jwksCooldownMs, config.requestTimeoutMs);
    this.#set = new RevocationSet(horizonMs(config));
    /** The last event applied (`Last-Event-ID` of the next connection). */
    this.cursor = 0;
    this.introspections = 0;
    this.reconnects = 0;
  }

  /** The wall-clock time in micros. */
  now() {
    return Math.round(this.clock() * 1000);
  }

  apply(event) {
    const now = this.now();
    this.#set.apply(event, now);
    this.cursor = Math.max(this.cursor, event.seq);
    if (performance.now() - this.#pruned >= PRUNE_EVERY_MS) {
      this.#set.prune(now);
      this.#pruned = performance.now();
    }
  }

  advance(seq) {
    this.cursor = Math.max(this.cursor, seq);
  }

  heard() {
    this.#heard = performance.now();
  }

  /** Milliseconds since Scimitar was last heard (null: never). */
  quietFor() {
    return this.#heard === null ? null : performance.now() - this.#heard;
  }

  get entries() {
    return this.#set.size;
  }

  /** Throws the view's refusal of a verified token, or `stale_view` when it is stale. */
  judge(claims) {
    judge(this.#set, claims, this.now(), this.quietFor(), this.config.staleAfterMs);
  }
}
