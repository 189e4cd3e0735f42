// @scimitar/guard: lets a Node app behind Scimitar accept or reject access tokens without a
// network call per request.
//
// A Guard verifies tokens offline against Scimitar's JWKS (EdDSA, `typ: at+jwt`, `iss`,
// `aud`, `exp`, `nbf`), and follows Scimitar's revocation stream to keep an in-memory set of
// revoked sessions (`sid`), tokens (`jti`) and per-user `not_before`, so a revoked token is
// refused within milliseconds of the revocation. When the stream has been silent for longer
// than a bound, the guard fails closed: it refuses every token, or introspects each one, as
// configured. `guard.express()` and `guard.fastify()` answer 401 with
// `WWW-Authenticate: Bearer error="invalid_token"`.
//
// It behaves as the Rust guard (`scimitar-guard` crate) does, refusal codes included; the
// conformance vectors in the Scimitar repository (guard/vectors.json) hold them together.

export { INTROSPECT, REFUSE } from './config.js';
export { CODES, Rejection } from './errors.js';
export { bearer, Guard } from './guard.js';
