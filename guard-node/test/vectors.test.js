// The conformance vectors (guard/vectors.json, shared with the Rust and Python guards)
// through this guard's decision core: each case's token, keys, received events, clock and
// configuration give the decision and refusal code the case expects.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { configure, horizonMs } from '../src/config.js';
import { decide, keysFromJwks } from '../src/core.js';
import { CODES } from '../src/errors.js';
import { parseTime, readEventText, RevocationSet } from '../src/revocations.js';

const vectors = JSON.parse(readFileSync(new URL('../../guard/vectors.json', import.meta.url), 'utf8'));

function configOf(testCase) {
  const c = testCase.config;
  return configure({
    issuer: c.issuer,
    clientId: 'app',
    clientSecret: 'secret',
    audience: c.audience,
    leewayMs: c.leeway_seconds * 1000,
    maxTokenLifetimeMs: c.max_token_lifetime_seconds * 1000,
    staleAfterMs: c.stale_after_ms,
    onStale: c.on_stale,
  });
}

// The revocation view after the case's events, each applied when it was received; an event
// the guard cannot read is skipped, as the stream follower does.
function viewOf(testCase, config) {
  const revocations = new RevocationSet(horizonMs(config));
  for (const received of testCase.events) {
    let event;
    try {
      event = readEventText(JSON.stringify(received.event));
    } catch {
      continue;
    }
    revocations.apply(event, parseTime(received.received));
  }
  return revocations;
}

// The decision: ['accept', sub] or ['refuse', code], and whether Scimitar was asked.
async function run(testCase) {
  const config = configOf(testCase);
  const keys = await keysFromJwks(JSON.stringify(testCase.jwks));
  const decision = await decide(
    testCase.token,
    keys,
    viewOf(testCase, config),
    parseTime(testCase.clock.now),
    testCase.clock.quiet_for_ms,
    config,
  );
  if (decision.kind === 'accept') return [['accept', decision.claims.sub], false];
  if (decision.kind === 'refuse') return [['refuse', decision.rejection.code], false];
  assert.equal(decision.kind, 'introspect');
  const outcome = {
    active: ['accept', decision.claims.sub],
    inactive: ['refuse', 'inactive'],
    unreachable: ['refuse', 'unavailable'],
  }[testCase.introspection];
  assert.ok(outcome, `introspection asked, but the case gives ${testCase.introspection}`);
  return [outcome, true];
}

for (const testCase of vectors.cases) {
  test(testCase.name, async () => {
    const { expect } = testCase;
    const wanted = expect.decision === 'accept' ? ['accept', expect.sub] : ['refuse', expect.code];
    assert.deepEqual(await run(testCase), [wanted, expect.introspected]);
  });
}

test('the vectors cover every refusal but a missing token', () => {
  const expected = new Set(vectors.cases.map((c) => c.expect.code).filter(Boolean));
  assert.deepEqual([...expected].sort(), CODES.filter((code) => code !== 'missing').sort());
  assert.ok(vectors.cases.length >= 40);
});
