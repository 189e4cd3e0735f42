// Scimitar's signing keys from `/.well-known/jwks.json`, fetched again when a token names an
// unknown `kid`, at most once per cooldown (so garbage `kid`s cannot hammer Scimitar), and by
// one caller at a time: concurrent checks with the same new `kid` wait for a single fetch.

import { keysFromJwks } from './core.js';
import { Rejection } from './errors.js';
import { fetchBytes } from './http.js';
import { text } from './strict.js';

export class KeyCache {
  #keys = new Map();
  #fetchedAt = null;
  // Lookups that miss run one after another, as under the Rust guard's mutex.
  #turn = Promise.resolve();

  constructor(url, cooldownMs, timeoutMs) {
    this.url = url;
    this.cooldownMs = cooldownMs;
    this.timeoutMs = timeoutMs;
    /** How many times the JWKS was fetched. */
    this.fetches = 0;
  }

  /** The key of `kid` if it is already known (never waits). */
  cached(kid) {
    return this.#keys.get(kid);
  }

  /** Fetches the key set now (at start). */
  load() {
    return this.#inTurn(() => this.#fetch());
  }

  /** The key for `kid`, refreshing the set once if it is unknown and the cooldown allows. */
  async get(kid) {
    const known = this.#keys.get(kid);
    if (known !== undefined) return known;
    // A caller that waited its turn finds the key its predecessor fetched, or the cooldown
    // that fetch started.
    return this.#inTurn(async () => {
      if (!this.#keys.has(kid)) {
        const cooling = this.#fetchedAt !== null && performance.now() - this.#fetchedAt < this.cooldownMs;
        if (!cooling) await this.#fetch();
      }
      const key = this.#keys.get(kid);
      if (key === undefined) throw new Rejection('unknown_key', `unknown signing key ${kid}`);
      return key;
    });
  }

  #inTurn(work) {
    const result = this.#turn.then(work);
    this.#turn = result.catch(() => {});
    return result;
  }

  async #fetch() {
    this.fetches += 1;
    // A failed fetch also starts the cooldown: an unreachable Scimitar is not hammered.
    this.#fetchedAt = performance.now();
    const body = await fetchBytes(this.url, { what: 'JWKS', timeoutMs: this.timeoutMs });
    try {
      this.#keys = await keysFromJwks(text(body));
    } catch (error) {
      throw new Rejection('unavailable', `JWKS: ${error.message}`);
    }
  }
}
