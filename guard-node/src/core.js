// The guard's decision as a pure function of the token, the published keys, the revocation
// view, the time and how long the stream has been quiet: accept, refuse, or ask Scimitar
// (introspection, while the view is stale). `Guard.check` runs these steps around its network
// calls; the conformance vectors (guard/vectors.json) run them with an injected clock, as the
// Rust and Python guards do.
//
// The steps, in the Rust guard's order (the first failing one names the refusal):
// 1. keyId: the header parses, `typ` is `at+jwt`, `alg` is EdDSA, a `kid` is named;
// 2. the key of that `kid` (unknown: `unknown_key`);
// 3. verify: the header's `crit`/`b64`, the EdDSA signature (jose), the claims' shape, then
//    `exp`, `nbf` (with leeway), `iss` and `aud`;
// 4. judge: the revocation view (`sid`, `jti`, the user's `not_before`), then staleness.

import { flattenedVerify, importJWK } from 'jose';

import { INTROSPECT } from './config.js';
import { Rejection } from './errors.js';
import { MICROS } from './revocations.js';
import { b64urlDecode, isI64, isObject, isText, readObject, text } from './strict.js';

/** The `alg` values the Rust guard's JOSE library can name; any other is a malformed header. */
export const KNOWN_ALGORITHMS = Object.freeze([
  'HS256', 'HS384', 'HS512', 'ES256', 'ES384', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA',
]);
const HEADER_STRINGS = ['typ', 'cty', 'jku', 'kid', 'x5u', 'x5t', 'x5t#S256', 'enc', 'zip', 'url', 'nonce'];
const HEADER_FIELDS = [...HEADER_STRINGS, 'alg', 'jwk', 'x5c', 'crit'];
const CLAIM_STRINGS = ['iss', 'sub', 'aud', 'jti', 'client_id', 'sid', 'tid'];
const CLAIM_NUMBERS = ['exp', 'iat', 'nbf'];
const ACCESS_TOKEN_TYPES = ['at+jwt', 'application/at+jwt'];

/** A published key that cannot verify EdDSA (another key type or curve). */
export const UNUSABLE = Symbol('unusable key');

const malformed = (detail) => new Rejection('malformed', detail);

/** The header of a compact JWS, as strictly as the Rust guard reads it. */
export function readHeader(token) {
  if (typeof token !== 'string') throw malformed('a JWT is a string');
  const parts = token.split('.');
  if (parts.length !== 3) throw malformed('a JWT has three parts');
  let header;
  try {
    header = readObject(text(b64urlDecode(parts[0])), HEADER_FIELDS).value;
  } catch (error) {
    throw malformed(`header: ${error.message}`);
  }
  // Every member is read (unknown ones too, as the Rust guard keeps them): no lone surrogate.
  if (!allWellFormed(header)) throw malformed('header: a string is not well-formed Unicode');
  for (const name of HEADER_STRINGS) {
    if (header[name] != null && !isText(header[name])) throw malformed(`header ${name} must be a string`);
  }
  for (const name of ['x5c', 'crit']) {
    const list = header[name];
    if (list != null && !(Array.isArray(list) && list.every((item) => typeof item === 'string'))) {
      throw malformed(`header ${name} must be a list of strings`);
    }
  }
  if (header.jwk != null && !isObject(header.jwk)) throw malformed('header jwk must be an object');
  if (!KNOWN_ALGORITHMS.includes(header.alg)) throw malformed(`unknown algorithm ${header.alg}`);
  return header;
}

// Whether every string in a parsed JSON value, names included, is well-formed.
function allWellFormed(value) {
  if (typeof value === 'string') return value.isWellFormed();
  if (Array.isArray(value)) return value.every(allWellFormed);
  if (isObject(value)) return Object.entries(value).every(([name, item]) => name.isWellFormed() && allWellFormed(item));
  return true;
}

/** Step 1: the `kid` whose key verifies the token (or the header's refusal). */
export function keyId(token) {
  const header = readHeader(token);
  const typ = header.typ ?? null;
  // ASCII case-insensitively, as the Rust guard compares.
  const ascii = typ !== null && /^[\x00-\x7f]*$/.test(typ);
  if (!ascii || !ACCESS_TOKEN_TYPES.includes(typ.toLowerCase())) {
    throw new Rejection('wrong_type', `typ ${typ}`);
  }
  if (header.alg !== 'EdDSA') throw new Rejection('wrong_algorithm', `algorithm ${header.alg} is not accepted`);
  if (header.kid == null) throw new Rejection('unknown_key', 'no kid');
  return header.kid;
}

/**
 * The signing keys of a JWKS document (its text) by `kid`: a Map of imported keys. Keys
 * without a `kid` or whose `x` is not base64url are skipped; a key of another type or curve is
 * kept as UNUSABLE. Throws when the document is not a JWKS.
 */
export async function keysFromJwks(source) {
  const document = JSON.parse(source);
  if (!isObject(document) || !Array.isArray(document.keys)) throw new Error('not a JWKS document');
  const keys = new Map();
  for (const jwk of document.keys) {
    if (!isObject(jwk)) throw new Error('a JWK is an object');
    if (typeof jwk.kid !== 'string') continue;
    if (jwk.kty !== 'OKP') {
      keys.set(jwk.kid, UNUSABLE);
      continue;
    }
    let raw;
    try {
      raw = b64urlDecode(typeof jwk.x === 'string' ? jwk.x : '!');
    } catch {
      continue;
    }
    if (jwk.crv !== 'Ed25519' || raw.length !== 32) {
      keys.set(jwk.kid, UNUSABLE);
      continue;
    }
    try {
      keys.set(jwk.kid, await importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x }, 'EdDSA'));
    } catch {
      keys.set(jwk.kid, UNUSABLE);
    }
  }
  return keys;
}

// The `b64` and `crit` rules the Rust guard applies once the key is known.
function checkCritical(header) {
  if ('b64' in header && typeof header.b64 !== 'boolean') throw malformed('b64 must be a boolean');
  if (header.b64 === false) throw malformed('unencoded payloads are not accepted');
  const crit = header.crit;
  if (crit != null && (crit.length !== 1 || crit[0] !== 'b64' || !('b64' in header))) {
    throw malformed('critical header parameters are not understood');
  }
}

// The claims of a verified payload, of exactly the shape Scimitar issues.
function readClaims(payload) {
  let value;
  let raw;
  try {
    ({ value, raw } = readObject(text(payload), [...CLAIM_STRINGS, ...CLAIM_NUMBERS, 'roles']));
  } catch (error) {
    throw malformed(`claims: ${error.message}`);
  }
  for (const name of CLAIM_STRINGS) {
    if (!isText(value[name])) throw malformed(`claim ${name} must be a string`);
  }
  for (const name of CLAIM_NUMBERS) {
    if (!isI64(raw, name)) throw malformed(`claim ${name} must be an integer`);
  }
  const roles = 'roles' in value ? value.roles : [];
  if (!Array.isArray(roles) || !roles.every(isText)) throw malformed('roles must be a list of strings');
  const claims = {};
  for (const name of [...CLAIM_STRINGS, ...CLAIM_NUMBERS]) claims[name] = value[name];
  claims.roles = Object.freeze([...roles]);
  return Object.freeze(claims);
}

// Whether the EdDSA signature of the token's first two segments verifies with `key`: by jose.
// jose also refuses some forms before it looks at the signature where the Rust guard reads on
// (a payload segment that is not ASCII, `"crit": null`); the form was judged by the Rust
// guard's rules already, so such a token's signature is verified by WebCrypto directly, with
// the same key, and the token gets the Rust guard's refusal.
async function signedBy(key, protectedHeader, payload, signature) {
  try {
    await flattenedVerify({ protected: protectedHeader, payload, signature }, key, { algorithms: ['EdDSA'] });
    return true;
  } catch (error) {
    if (error?.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') return false;
  }
  const signingInput = new TextEncoder().encode(`${protectedHeader}.${payload}`);
  return crypto.subtle.verify('Ed25519', key, b64urlDecode(signature), signingInput);
}

/** Step 3: the signature and the claims, against the configured issuer and audience. */
export class Verifier {
  constructor(config) {
    this.issuer = config.issuer;
    this.audience = new Set(config.audience);
    this.leeway = Math.floor(config.leewayMs / 1000);
  }

  /** The claims of a token signed by `key` whose claims hold at `now` (micros). */
  async verify(token, key, now) {
    checkCritical(readHeader(token));
    const [protectedHeader, payload, signature] = token.split('.');
    if (key === UNUSABLE) throw malformed('the key cannot verify EdDSA');
    try {
      b64urlDecode(signature);
    } catch {
      throw malformed('signature is not base64url');
    }
    if (!(await signedBy(key, protectedHeader, payload, signature))) throw new Rejection('bad_signature', 'bad signature');
    let bytes;
    try {
      bytes = b64urlDecode(payload);
    } catch {
      throw malformed('payload is not base64url');
    }
    const claims = readClaims(bytes);
    // `exp` and `nbf` are NumericDates: a negative one is not a valid claim.
    if (claims.exp < 0 || claims.nbf < 0) throw malformed('negative exp or nbf');
    const seconds = Math.floor(now / MICROS);
    if (claims.exp < seconds - this.leeway) throw new Rejection('expired', 'token expired');
    if (claims.nbf > seconds + this.leeway) throw new Rejection('not_yet_valid', 'token not valid yet');
    if (claims.iss !== this.issuer) throw new Rejection('wrong_issuer', 'wrong issuer');
    if (!this.audience.has(claims.aud)) throw new Rejection('wrong_audience', 'wrong audience');
    return claims;
  }
}

/**
 * Step 4: throws the refusal of a token the view revokes at `now`; then `stale_view` when
 * nothing was heard for longer than `staleAfterMs` (`quietForMs` null: never heard). A
 * revocation already known refuses the token even when stale: revocations are final.
 */
export function judge(revocations, claims, now, quietForMs, staleAfterMs) {
  revocations.judge(claims, now);
  if (quietForMs === null || quietForMs > staleAfterMs) {
    const quiet = quietForMs === null ? 'never heard' : `quiet for ${quietForMs} ms`;
    throw new Rejection('stale_view', `revocation view stale (${quiet})`);
  }
}

/**
 * The whole decision offline, with the keys at hand (an unknown `kid` is refused here;
 * `Guard.check` first fetches the JWKS again, if its cooldown allows). Resolves to
 * `{ kind: 'accept', claims }`, `{ kind: 'refuse', rejection }` or `{ kind: 'introspect', claims }`.
 */
export async function decide(token, keys, revocations, now, quietForMs, config, verifier = new Verifier(config)) {
  let claims;
  try {
    const kid = keyId(token);
    if (!keys.has(kid)) throw new Rejection('unknown_key', `unknown signing key ${kid}`);
    claims = await verifier.verify(token, keys.get(kid), now);
  } catch (error) {
    if (error instanceof Rejection) return { kind: 'refuse', rejection: error };
    throw error;
  }
  try {
    judge(revocations, claims, now, quietForMs, config.staleAfterMs);
  } catch (error) {
    if (!(error instanceof Rejection)) throw error;
    if (error.code === 'stale_view' && config.onStale === INTROSPECT) return { kind: 'introspect', claims };
    return { kind: 'refuse', rejection: error };
  }
  return { kind: 'accept', claims };
}
