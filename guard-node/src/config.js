// What a guard needs to know: where Scimitar is, who the app is, and how strict to be. The
// defaults are the Rust guard's; durations are in milliseconds.

export const REFUSE = 'refuse';
export const INTROSPECT = 'introspect';

const DEFAULTS = {
  audience: null, // default: [clientId]
  eventsUrl: null, // default: issuer
  staleAfterMs: 45_000,
  onStale: REFUSE,
  maxTokenLifetimeMs: 3_600_000,
  leewayMs: 60_000,
  jwksCooldownMs: 30_000,
  maxBackoffMs: 10_000,
  requestTimeoutMs: 10_000,
};

/**
 * The guard's settings, with defaults filled in.
 *
 * - `issuer`: Scimitar's public URL: the expected `iss`, and where its endpoints are.
 * - `clientId`, `clientSecret`: the app client's credentials (stream, feed, introspection).
 * - `audience`: accepted `aud` values (default: [clientId]).
 * - `eventsUrl`: base URL of the feed and stream when reached another way (default: issuer).
 * - `staleAfterMs`: the view is stale when nothing was heard for this long (default 45 s;
 *   Scimitar's heartbeat comes every 15 s).
 * - `onStale`: 'refuse' (default) or 'introspect'.
 * - `maxTokenLifetimeMs`: the longest access-token lifetime: entries are forgotten this long
 *   plus the leeway after their event (default 1 hour).
 * - `leewayMs`: clock skew tolerated on `exp` and `nbf`, whole seconds count (default 60 s).
 * - `jwksCooldownMs`: least time between two JWKS fetches for unknown `kid`s (default 30 s).
 * - `maxBackoffMs`: longest wait between two reconnections (default 10 s).
 * - `requestTimeoutMs`: timeout of each request to Scimitar (default 10 s).
 */
export function configure(options) {
  for (const name of ['issuer', 'clientId', 'clientSecret']) {
    if (typeof options?.[name] !== 'string') throw new TypeError(`config.${name} is required`);
  }
  for (const name of Object.keys(options)) {
    if (!(name in DEFAULTS) && !['issuer', 'clientId', 'clientSecret'].includes(name)) {
      throw new TypeError(`unknown setting ${name}`);
    }
  }
  const config = { ...DEFAULTS, ...options };
  config.issuer = config.issuer.replace(/\/+$/, '');
  config.eventsUrl = config.eventsUrl ? config.eventsUrl.replace(/\/+$/, '') : config.issuer;
  if (config.audience == null) config.audience = [config.clientId];
  if (typeof config.audience === 'string') config.audience = [config.audience];
  if (![REFUSE, INTROSPECT].includes(config.onStale)) {
    throw new TypeError(`onStale must be '${REFUSE}' or '${INTROSPECT}'`);
  }
  return Object.freeze(config);
}

/** How long after its event a revocation entry still matters, in ms. */
export function horizonMs(config) {
  return config.maxTokenLifetimeMs + config.leewayMs;
}
