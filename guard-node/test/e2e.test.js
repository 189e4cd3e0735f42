// The guard against the real Scimitar: a token accepted offline, refused soon after a SCIM
// deactivation and after an RFC 7009 revocation (without introspection), forged and expired
// tokens refused, both middlewares (Express and Fastify, each serving on a random port), and
// failing closed once the stream stops: refusing, or introspecting (and Scimitar, down,
// cannot answer: 503). Skipped when SCIMITAR_BIN does not name the binary.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import express from 'express';
import Fastify from 'fastify';

import { Guard, Rejection } from '../src/index.js';
import { binary, Scimitar } from './scimitar-server.js';

const skip = binary ? false : 'SCIMITAR_BIN is not set: build scimitar and point SCIMITAR_BIN at it';
/** How long a revocation may take to reach the guard in these tests. */
const WITHIN_MS = 2000;
const quiet = {};

function configOf(server, client, options = {}) {
  return { issuer: server.root, clientId: client.id, clientSecret: client.secret, ...options };
}

async function codeOf(promise) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Rejection, error);
    return error.code;
  }
  assert.fail('accepted');
}

/** Checks until the token is refused: its refusal and how long that took (ms). */
async function refused(check, token, withinMs = WITHIN_MS) {
  const start = performance.now();
  for (;;) {
    try {
      await check(token);
    } catch (error) {
      assert.ok(error instanceof Rejection, error);
      return [error, performance.now() - start];
    }
    assert.ok(performance.now() - start < withinMs, `still accepted after ${withinMs} ms`);
    await sleep(10);
  }
}

function reencode(part, change) {
  const fields = JSON.parse(Buffer.from(part, 'base64url'));
  change(fields);
  return Buffer.from(JSON.stringify(fields)).toString('base64url');
}

/** The token with claims changed and its signature kept: a forgery. */
function withPayload(token, changes) {
  const [header, payload, signature] = token.split('.');
  return [header, reencode(payload, (claims) => Object.assign(claims, changes)), signature].join('.');
}

function withKid(token, kid) {
  const [header, payload, signature] = token.split('.');
  return [reencode(header, (fields) => { fields.kid = kid; }), payload, signature].join('.');
}

async function expressApp(guard) {
  const app = express();
  app.use(guard.express());
  app.get('/me', (req, res) => res.json({ sub: req.claims.sub, roles: req.claims.roles }));
  return listen((port) => new Promise((resolve) => { const server = app.listen(port, '127.0.0.1', () => resolve(server)); }));
}

async function fastifyApp(guard) {
  const app = Fastify();
  await app.register(guard.fastify());
  app.get('/me', async (request) => ({ sub: request.claims.sub, roles: request.claims.roles }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { url: `http://127.0.0.1:${app.server.address().port}`, close: () => app.close() };
}

async function listen(start) {
  const server = await start(0);
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

/** [name, app] for an Express and a Fastify app guarded by `guard`. */
async function frameworks(guard) {
  return [['express', await expressApp(guard)], ['fastify', await fastifyApp(guard)]];
}

function get(app, authorization) {
  return fetch(`${app.url}/me`, { headers: authorization ? { authorization } : {} });
}

describe('against the real Scimitar', { skip }, () => {
  let server;
  let client;
  let guard;

  before(async () => {
    server = await Scimitar.start();
    client = server.appClient();
    guard = await Guard.start(configOf(server, client), { log: quiet });
  });

  after(async () => {
    await guard?.close();
    await server?.close();
  });

  test('a valid token is accepted offline, then refused soon after a SCIM deactivation', async () => {
    const user = await server.createUser('ada@example.com');
    const token = await server.accessToken(client, user);
    const claims = await guard.check(token);
    assert.deepEqual([claims.sub, claims.aud], [user, client.id]);
    await server.deactivate(user);
    const [rejection, afterMs] = await refused((t) => guard.check(t), token);
    assert.ok(['revoked_session', 'user_not_before'].includes(rejection.code), rejection.code);
    assert.ok(afterMs < WITHIN_MS);
    const status = guard.status();
    assert.equal(status.introspections, 0);
    assert.ok(status.fresh && status.entries > 0, JSON.stringify(status));
  });

  test('an RFC 7009 revocation refuses its session', async () => {
    const user = await server.createUser('grace@example.com');
    const revoked = await server.accessToken(client, user);
    const kept = await server.accessToken(client, user);
    await guard.check(revoked);
    await server.revoke(client, revoked);
    const [rejection] = await refused((t) => guard.check(t), revoked);
    assert.equal(rejection.code, 'revoked_session'); // the token's session ends with it
    assert.equal((await guard.check(kept)).sub, user);
    assert.equal(guard.status().introspections, 0);
  });

  test('a revocation before the guard started is read from the feed', async () => {
    const user = await server.createUser('edsger@example.com');
    const token = await server.accessToken(client, user);
    await server.deactivate(user);
    const late = await Guard.start(configOf(server, client), { log: quiet });
    try {
      assert.ok(['revoked_session', 'user_not_before'].includes(await codeOf(late.check(token))));
    } finally {
      await late.close();
    }
  });

  test('forged, expired and foreign tokens are refused', async () => {
    const token = await server.accessToken(client, await server.createUser('barbara@example.com'));
    assert.equal(await codeOf(guard.check(withPayload(token, { roles: ['admin'] }))), 'bad_signature');
    assert.equal(await codeOf(guard.check(withPayload(token, { sub: 'someone-else' }))), 'bad_signature');
    assert.equal(await codeOf(guard.check('nonsense')), 'malformed');
    const fetches = guard.status().jwksFetches;
    assert.equal(await codeOf(guard.check(withKid(token, 'not-a-key'))), 'unknown_key');
    assert.equal(guard.status().jwksFetches, fetches, 'within the cooldown that started at start-up');
    // An hour from now the token (5 minutes) has expired.
    const later = await Guard.start(configOf(server, client), { clock: () => Date.now() + 3_600_000, log: quiet });
    const other = await Guard.start(configOf(server, client, { audience: ['another-app'] }), { log: quiet });
    try {
      assert.equal(await codeOf(later.check(token)), 'expired');
      assert.equal(await codeOf(other.check(token)), 'wrong_audience');
    } finally {
      await later.close();
      await other.close();
    }
  });

  test('an unknown kid refreshes the keys once per cooldown', async () => {
    const token = await server.accessToken(client, await server.createUser('alan@example.com'));
    const cooled = await Guard.start(configOf(server, client, { jwksCooldownMs: 300 }), { log: quiet });
    try {
      assert.equal(cooled.status().jwksFetches, 1);
      await sleep(400);
      const codes = await Promise.all(
        Array.from({ length: 10 }, (_, n) => codeOf(cooled.check(withKid(token, `unknown-${n}`)))),
      );
      assert.deepEqual(codes, Array(10).fill('unknown_key'));
      assert.equal(cooled.status().jwksFetches, 2, 'one refresh for ten concurrent checks, then the cooldown');
      assert.ok((await cooled.check(token)).sub);
    } finally {
      await cooled.close();
    }
  });

  test('Express and Fastify admit accepted tokens and answer 401 with a challenge', async () => {
    const user = await server.createUser('margaret@example.com');
    const token = await server.accessToken(client, user);
    const revoked = await server.accessToken(client, user);
    await server.revoke(client, revoked);
    await refused((t) => guard.check(t), revoked);
    const gone = await server.createUser('katherine@example.com');
    const deactivated = await server.accessToken(client, gone);
    await server.deactivate(gone);
    await refused((t) => guard.check(t), deactivated);
    // An hour from now the token (5 minutes) has expired.
    const later = await Guard.start(configOf(server, client), { clock: () => Date.now() + 3_600_000, log: quiet });
    const apps = await frameworks(guard);
    const laterApps = await frameworks(later);
    try {
      for (const [index, [name, app]] of apps.entries()) {
        const ok = await get(app, `Bearer ${token}`);
        assert.equal(ok.status, 200, name);
        assert.equal((await ok.json()).sub, user, name);
        const bare = await get(app);
        assert.deepEqual([bare.status, bare.headers.get('www-authenticate')], [401, 'Bearer'], name);
        for (const [sent, reasons, target] of [
          [revoked, ['revoked_session'], app],
          [deactivated, ['revoked_session', 'user_not_before'], app],
          ['nonsense', ['malformed'], app],
          [withPayload(token, { sub: 'x' }), ['bad_signature'], app],
          [token, ['expired'], laterApps[index][1]],
        ]) {
          const answer = await get(target, `Bearer ${sent}`);
          assert.equal(answer.status, 401, `${name} ${reasons}`);
          const challenges = reasons.map((r) => `Bearer error="invalid_token", error_description="${r}"`);
          assert.ok(challenges.includes(answer.headers.get('www-authenticate')), `${name} ${reasons}`);
          assert.equal(await answer.text(), '', name);
        }
        const basic = await get(app, `Basic ${token}`);
        assert.deepEqual([basic.status, basic.headers.get('www-authenticate')], [401, 'Bearer'], name);
      }
    } finally {
      for (const [, app] of [...apps, ...laterApps]) await app.close();
      await later.close();
    }
  });
});

test('a quiet stream is replaced, and a stopped one fails closed', { skip }, async () => {
  const server = await Scimitar.start();
  const apps = [];
  const guards = [];
  try {
    const client = server.appClient();
    const token = await server.accessToken(client, await server.createUser('frances@example.com'));
    const refuse = await Guard.start(configOf(server, client, { staleAfterMs: 1000 }), { log: quiet });
    guards.push(refuse);
    const ask = await Guard.start(configOf(server, client, { staleAfterMs: 1000, onStale: 'introspect' }), { log: quiet });
    guards.push(ask);
    // Scimitar's heartbeat comes every 15 s; a connection silent for half the bound is
    // replaced, so the view stays fresh while Scimitar is up.
    await sleep(2500);
    for (const guard of guards) {
      assert.ok((await guard.check(token)).sub);
      const status = guard.status();
      assert.ok(status.fresh && status.reconnects >= 3, JSON.stringify(status));
    }
    assert.equal(ask.status().introspections, 0);
    const served = { refuse: await frameworks(refuse), ask: await frameworks(ask) };
    apps.push(...served.refuse.map(([, app]) => app), ...served.ask.map(([, app]) => app));
    await server.stop();
    const [stale, afterMs] = await refused((t) => refuse.check(t), token, 4000);
    assert.equal(stale.code, 'stale_view');
    assert.ok(afterMs > 400 && afterMs < 4000, String(afterMs));
    // Introspecting while stale, with Scimitar down: it could not be asked.
    const [down] = await refused((t) => ask.check(t), token, 4000);
    assert.equal(down.code, 'unavailable');
    assert.ok(ask.status().introspections >= 1);
    for (const [mode, status, reason] of [['refuse', 401, 'stale_view'], ['ask', 503, 'unavailable']]) {
      for (const [name, app] of served[mode]) {
        const answer = await get(app, `Bearer ${token}`);
        assert.equal(answer.status, status, `${mode} ${name}`);
        assert.match(answer.headers.get('www-authenticate'), new RegExp(`error_description="${reason}"`), `${mode} ${name}`);
      }
    }
  } finally {
    for (const app of apps) await app.close();
    for (const guard of guards) await guard.close();
    await server.close();
  }
});

test('start fails when Scimitar cannot be reached', async () => {
  const config = { issuer: 'http://127.0.0.1:9', clientId: 'a', clientSecret: 'b', requestTimeoutMs: 2000 };
  assert.equal(await codeOf(Guard.start(config, { log: quiet })), 'unavailable');
});
