// Why a token was refused: one typed reason per check, so an app can log and count them.
// The codes are the Rust guard's `Rejection::code()` strings, character for character; the
// conformance vectors (guard/vectors.json) hold all three guards to them.

export const CODES = Object.freeze([
  'missing',
  'malformed',
  'wrong_type',
  'wrong_algorithm',
  'unknown_key',
  'bad_signature',
  'expired',
  'not_yet_valid',
  'wrong_issuer',
  'wrong_audience',
  'revoked_session',
  'revoked_token',
  'user_not_before',
  'stale_view',
  'inactive',
  'unavailable',
]);

/** Why `check` refused a token (or `Guard.start` could not begin). */
export class Rejection extends Error {
  /**
   * @param {string} code one of CODES
   * @param {string} [detail] more, for logs
   */
  constructor(code, detail = '') {
    if (!CODES.includes(code)) throw new TypeError(`unknown refusal code ${code}`);
    super(detail ? `${code}: ${detail}` : code);
    this.name = 'Rejection';
    this.code = code;
    this.detail = detail;
  }

  /** The HTTP status of a refused request: 503 when Scimitar could not be asked. */
  get status() {
    return this.code === 'unavailable' ? 503 : 401;
  }

  /**
   * The `WWW-Authenticate` value (RFC 6750 §3): every refusal of a presented token is
   * `invalid_token`; a missing one gets the bare challenge.
   */
  challenge() {
    if (this.code === 'missing') return 'Bearer';
    return `Bearer error="invalid_token", error_description="${this.code}"`;
  }
}
