// Reading tokens and events as strictly as the Rust guard does (serde and the base64 crate),
// so a token gets the same refusal in every language: canonical base64url without padding;
// UTF-8 text; a JSON object whose known fields appear once; integers written as integers.
// JSON.parse alone cannot tell `1.0` from `1` nor see a repeated name, so the members of the
// top-level object are also scanned as text.

const B64URL = /^[A-Za-z0-9_-]*$/;
const INTEGER = /^-?(0|[1-9][0-9]*)$/;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strict base64url (throws on another alphabet, padding, or unused bits set). */
export function b64urlDecode(segment) {
  if (!B64URL.test(segment) || segment.length % 4 === 1) throw new Error('not base64url');
  const bytes = Buffer.from(segment, 'base64url');
  if (bytes.toString('base64url') !== segment) throw new Error('not canonical base64url');
  return bytes;
}

/** UTF-8 bytes as text (throws on invalid UTF-8; a BOM is kept, and then is not JSON). */
export function text(bytes) {
  return utf8.decode(bytes);
}

/**
 * A JSON object from its text: `{ value, raw }`, where `value` is the parsed object and
 * `raw` maps each member to the text of its value. Throws when the text is not a JSON object
 * or a name of `known` appears twice.
 */
export function readObject(source, known = []) {
  const value = JSON.parse(source);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('not a JSON object');
  }
  const raw = new Map();
  for (const [name, valueText] of members(source)) {
    if (raw.has(name) && known.includes(name)) throw new Error(`duplicate field ${name}`);
    raw.set(name, valueText);
  }
  return { value, raw };
}

/** Whether the member's text is an integer literal within i64 (as serde reads an i64). */
export function isI64(raw, name) {
  const literal = raw.get(name);
  return literal !== undefined && INTEGER.test(literal) && BigInt(literal) >= I64_MIN && BigInt(literal) <= I64_MAX;
}

/** Whether `value` is a string of well-formed UTF-16 (no lone surrogate, which serde refuses). */
export function isText(value) {
  return typeof value === 'string' && value.isWellFormed();
}

/** Whether `value` is a JSON object (not an array, not null). */
export function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

// The members of the top-level object of a valid JSON text: [name, text of its value].
function members(source) {
  const out = [];
  let i = space(source, 0) + 1; // past '{'
  i = space(source, i);
  if (source[i] === '}') return out;
  for (;;) {
    i = space(source, i);
    const nameEnd = endOfString(source, i);
    const name = JSON.parse(source.slice(i, nameEnd));
    i = space(source, space(source, nameEnd) + 1); // past ':'
    const valueEnd = endOfValue(source, i);
    out.push([name, source.slice(i, valueEnd)]);
    i = space(source, valueEnd);
    if (source[i] !== ',') return out;
    i += 1;
  }
}

function space(source, i) {
  while (i < source.length && ' \t\n\r'.includes(source[i])) i += 1;
  return i;
}

function endOfString(source, i) {
  let j = i + 1;
  while (source[j] !== '"') j += source[j] === '\\' ? 2 : 1;
  return j + 1;
}

function endOfValue(source, i) {
  if (source[i] === '"') return endOfString(source, i);
  if (source[i] === '{' || source[i] === '[') {
    let depth = 0;
    let j = i;
    do {
      if (source[j] === '"') {
        j = endOfString(source, j);
        continue;
      }
      if (source[j] === '{' || source[j] === '[') depth += 1;
      if (source[j] === '}' || source[j] === ']') depth -= 1;
      j += 1;
    } while (depth > 0);
    return j;
  }
  let j = i;
  while (j < source.length && !',}] \t\n\r'.includes(source[j])) j += 1;
  return j;
}
