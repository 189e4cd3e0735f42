// The Guard: starts by fetching the keys and catching up on the feed, follows the stream in
// the background, and checks tokens: offline, or by introspection while the view is stale if
// so configured. Only a JWKS refresh (unknown `kid`) or an introspection waits on the network.

import { configure, INTROSPECT } from './config.js';
import { keyId, Verifier } from './core.js';
import { Rejection } from './errors.js';
import { basic, fetchBytes } from './http.js';
import { expressMiddleware } from './express.js';
import { fastifyPlugin } from './fastify.js';
import { readObject, text } from './strict.js';
import { catchUp, Follower } from './stream.js';
import { Shared } from './view.js';

/** The token of an `Authorization: Bearer …` header value (`missing` otherwise). */
export function bearer(value) {
  const missing = () => new Rejection('missing', 'no bearer token');
  if (typeof value !== 'string') throw missing();
  const space = value.indexOf(' ');
  if (space === -1) throw missing();
  const scheme = value.slice(0, space);
  const token = value.slice(space + 1).trim();
  if (!/^[\x00-\x7f]*$/.test(scheme) || scheme.toLowerCase() !== 'bearer' || token === '') throw missing();
  return token;
}

/**
 * A header value as the Rust middleware reads it: visible ASCII (and tabs) only, else absent.
 */
export function headerText(value) {
  if (Array.isArray(value)) value = value[0];
  if (typeof value !== 'string' || !/^[\t\x20-\x7e]*$/.test(value)) return undefined;
  return value;
}

/** The default logger: warnings only (an unreadable event); refusals are not logged. */
const QUIET = Object.freeze({ warn: (message) => console.warn(`scimitar-guard: ${message}`) });

export class Guard {
  #shared;
  #verifier;
  #follower;

  /** Use `Guard.start(config)`. */
  constructor(config, { clock = Date.now, log = QUIET } = {}) {
    this.config = configure(config);
    this.log = log;
    this.#shared = new Shared(this.config, clock);
    this.#verifier = new Verifier(this.config);
    this.#follower = new Follower(this.#shared, log);
  }

  /**
   * Fetches the keys, catches up on the retained revocation events, and starts following the
   * stream. Rejects with Rejection('unavailable') if Scimitar cannot be reached. Options:
   * `clock` (milliseconds since the epoch, for tests) and `log` (an object with any of
   * `info` (refusals), `warn` (unreadable events) and `debug` (stream reconnections), such as
   * `console` or a pino logger; by default warnings go to `console.warn`).
   */
  static async start(config, options = {}) {
    const guard = new Guard(config, options);
    await guard.#shared.keys.load();
    await catchUp(guard.#shared);
    guard.#follower.start();
    return guard;
  }

  /** Stops following the stream (the view then goes stale). */
  close() {
    return this.#follower.stop();
  }

  /** Resolves to the claims of a valid, unrevoked access token; rejects with a Rejection. */
  async check(token) {
    const kid = keyId(token);
    const key = this.#shared.keys.cached(kid) ?? (await this.#shared.keys.get(kid));
    const claims = await this.#verifier.verify(token, key, this.#shared.now());
    try {
      this.#shared.judge(claims);
    } catch (error) {
      if (error.code !== 'stale_view' || this.config.onStale !== INTROSPECT) throw error;
      if (!(await this.introspect(token))) throw new Rejection('inactive', 'token not active (introspection)');
    }
    return claims;
  }

  /** `check` of the bearer token of an `Authorization` header value: what the middlewares do. */
  checkHeader(authorization) {
    try {
      return this.check(bearer(headerText(authorization)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Asks Scimitar (RFC 7662) whether the token is active. */
  async introspect(token) {
    this.#shared.introspections += 1;
    const { config } = this;
    const body = await fetchBytes(`${config.issuer}/oauth2/introspect`, {
      what: 'introspection',
      timeoutMs: config.requestTimeoutMs,
      headers: { authorization: basic(config.clientId, config.clientSecret) },
      form: { token },
    });
    let active;
    try {
      active = readObject(text(body), ['active']).value.active;
    } catch (error) {
      throw new Rejection('unavailable', `introspection: ${error.message}`);
    }
    if (typeof active !== 'boolean') throw new Rejection('unavailable', 'introspection: active is not a boolean');
    return active;
  }

  /** What the guard knows, for health checks and logs. */
  status() {
    const shared = this.#shared;
    const quietForMs = shared.quietFor();
    return {
      fresh: quietForMs !== null && quietForMs <= this.config.staleAfterMs,
      quietForMs,
      cursor: shared.cursor,
      entries: shared.entries,
      jwksFetches: shared.keys.fetches,
      introspections: shared.introspections,
      reconnects: shared.reconnects,
    };
  }

  /** Express (or Connect, or plain `node:http`) middleware: `app.use(guard.express())`. */
  express() {
    return expressMiddleware(this);
  }

  /** A Fastify plugin for the whole app: `app.register(guard.fastify())`. */
  fastify() {
    return fastifyPlugin(this);
  }
}
