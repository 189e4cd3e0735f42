// The revocation view: revoked sessions, tokens and per-user `not_before`, built from
// Scimitar's events and bounded: an entry is forgotten once every token it covers has expired
// (the longest access-token lifetime plus leeway after the event).
//
// Times are whole microseconds since the Unix epoch (`micros`), the precision of Scimitar's
// event times, so comparisons are exact.

import { Rejection } from './errors.js';
import { isI64, isText, readObject } from './strict.js';

export const MICROS = 1_000_000;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/;
const EVENT_FIELDS = ['seq', 'type', 'occurred', 'user', 'session', 'jti', 'not_before'];

/** An RFC 3339 time (`2026-01-15T12:00:00.123456Z`) in micros; throws if it is not one. */
export function parseTime(value) {
  const match = typeof value === 'string' ? RFC3339.exec(value) : null;
  if (!match) throw new Error(`not an RFC 3339 time: ${value}`);
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    throw new Error(`no such time: ${value}`);
  }
  const fraction = Number((match[7] ?? '0').slice(0, 6).padEnd(6, '0'));
  let shift = 0;
  if (!/^[Zz]$/.test(match[8])) {
    const sign = match[8][0] === '+' ? 1 : -1;
    shift = sign * (Number(match[8].slice(1, 3)) * 3600 + Number(match[8].slice(4, 6)) * 60);
  }
  return (date.getTime() / 1000 - shift) * MICROS + fraction;
}

/**
 * One event of the feed or stream, as far as revocation goes, from its parsed JSON (and the
 * text of its members, when read from text). Throws when it cannot be read: the stream skips
 * such an event, the feed refuses its page.
 */
export function readEvent(value, raw = null) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('an event is a JSON object');
  const seqIsInteger = raw ? isI64(raw, 'seq') : Number.isSafeInteger(value.seq);
  if (!seqIsInteger) throw new Error('seq must be an integer');
  if (!isText(value.type)) throw new Error('type must be a string');
  const textOf = (name) => {
    const field = value[name];
    if (field != null && !isText(field)) throw new Error(`${name} must be a string`);
    return field ?? null;
  };
  const timeOf = (name) => {
    const field = textOf(name);
    return field === null ? null : parseTime(field);
  };
  return Object.freeze({
    seq: Number(value.seq),
    type: value.type,
    occurred: timeOf('occurred'),
    user: textOf('user'),
    session: textOf('session'),
    jti: textOf('jti'),
    notBefore: timeOf('not_before'),
  });
}

/** An event from its JSON text (as the stream delivers it). */
export function readEventText(source) {
  const { value, raw } = readObject(source, EVENT_FIELDS);
  return readEvent(value, raw);
}

export { EVENT_FIELDS };

/** Revoked `sid`s, `jti`s and per-user `not_before`, each with when to forget it. */
export class RevocationSet {
  /** @param {number} horizonMs how long after its event an entry still matters */
  constructor(horizonMs) {
    this.horizon = Math.round(horizonMs * 1000);
    this.sessions = new Map();
    this.jtis = new Map();
    /** Per user: [not_before, forget] (tokens issued at or before not_before are revoked). */
    this.notBefore = new Map();
  }

  /** Records what an event revokes at `now` (micros); events that revoke nothing are ignored. */
  apply(event, now) {
    const at = event.occurred ?? event.notBefore ?? now;
    const forget = at + this.horizon;
    if (forget <= now) return;
    if (event.type === 'session.revoked') {
      if (event.session !== null) this.sessions.set(event.session, forget);
    } else if (event.type === 'token.revoked') {
      if (event.jti !== null) this.jtis.set(event.jti, forget);
    } else if (event.type === 'user.disabled') {
      if (event.user !== null && event.notBefore !== null) {
        const nb = event.notBefore;
        const held = this.notBefore.get(event.user);
        if (held === undefined || nb >= held[0]) this.notBefore.set(event.user, [nb, nb + this.horizon]);
      }
    }
    // `user.enabled` revives nothing; role losses arrive as `session.revoked`.
  }

  /**
   * Throws the refusal of a verified token that the view revokes at `now`: an entry is
   * forgotten at its horizon exactly, whenever `prune` reclaims its memory.
   */
  judge(claims, now) {
    const session = this.sessions.get(claims.sid);
    if (session !== undefined && session > now) throw new Rejection('revoked_session', 'session revoked');
    const token = this.jtis.get(claims.jti);
    if (token !== undefined && token > now) throw new Rejection('revoked_token', 'token revoked');
    const held = this.notBefore.get(claims.sub);
    // `iat` has whole seconds: a token of the deactivation's own second is treated as issued
    // before it (no token is issued to an inactive user, so this fails closed).
    if (held !== undefined && held[1] > now && claims.iat <= Math.floor(held[0] / MICROS)) {
      throw new Rejection('user_not_before', "the user's tokens issued before then are revoked");
    }
  }

  /** Forgets entries whose tokens have all expired. */
  prune(now) {
    for (const [key, forget] of this.sessions) if (forget <= now) this.sessions.delete(key);
    for (const [key, forget] of this.jtis) if (forget <= now) this.jtis.delete(key);
    for (const [key, [, forget]] of this.notBefore) if (forget <= now) this.notBefore.delete(key);
  }

  get size() {
    return this.sessions.size + this.jtis.size + this.notBefore.size;
  }
}
