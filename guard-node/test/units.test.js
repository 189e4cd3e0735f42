// The guard's parts without Scimitar: the bearer header, the challenge, the strict JSON
// reading, the SSE parser, the key cache's cooldown and single flight (against a local JWKS
// server), and the Express middleware's answer to a refusal.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { expressMiddleware } from '../src/express.js';
import { headerText } from '../src/guard.js';
import { bearer, Rejection } from '../src/index.js';
import { KeyCache } from '../src/keys.js';
import { readEventText } from '../src/revocations.js';
import { SseParser } from '../src/stream.js';
import { b64urlDecode, readObject } from '../src/strict.js';

const vectors = JSON.parse(readFileSync(new URL('../../guard/vectors.json', import.meta.url), 'utf8'));
const JWKS = JSON.stringify({ keys: [vectors.keys.k1.public] });

test('the bearer token of an Authorization header', () => {
  assert.equal(bearer('Bearer abc'), 'abc');
  assert.equal(bearer('bearer abc'), 'abc');
  assert.equal(bearer('BEARER   abc  '), 'abc');
  for (const value of [undefined, 'Bearer', 'Bearer ', 'Basic abc', 'Bearer\tabc']) {
    assert.throws(() => bearer(value), (error) => error.code === 'missing', String(value));
  }
  assert.equal(headerText('Bearer \x7f'), undefined);
  assert.equal(headerText('Bearer é'), undefined);
  assert.equal(headerText('Bearer\tx'), 'Bearer\tx');
});

test('challenges and statuses', () => {
  assert.equal(new Rejection('missing').challenge(), 'Bearer');
  assert.equal(new Rejection('expired').challenge(), 'Bearer error="invalid_token", error_description="expired"');
  assert.deepEqual([new Rejection('expired').status, new Rejection('unavailable').status], [401, 503]);
  assert.throws(() => new Rejection('no_such_code'), TypeError);
});

test('JSON is read as strictly as the Rust guard reads it', () => {
  const { raw } = readObject('{"a": {"b": [1, "}"]}, "exp" :7 , "s":"x\\"y"}', ['exp']);
  assert.deepEqual([...raw.entries()], [['a', '{"b": [1, "}"]}'], ['exp', '7'], ['s', '"x\\"y"']]);
  assert.throws(() => readObject('{"exp":1,"exp":2}', ['exp']), /duplicate/);
  assert.doesNotThrow(() => readObject('{"other":1,"other":2}', ['exp']));
  assert.throws(() => readObject('[1]'), /not a JSON object/);
  assert.throws(() => b64urlDecode('ab='), /base64url/);
  assert.throws(() => b64urlDecode('ab+/'), /base64url/);
  assert.throws(() => b64urlDecode('ax'), /base64url/); // unused bits set
});

test('events are split across chunks and comments carry nothing', () => {
  const parser = new SseParser();
  const bytes = (s) => new TextEncoder().encode(s);
  assert.deepEqual(parser.push(bytes('retry: 1000\n: from 3\n\nid: 4\nevent: x\nda')), [{ id: null, data: null }]);
  assert.deepEqual(parser.push(bytes('ta: {"a":1}\r\n\r\n: keep-alive\n\n')), [
    { id: 4, data: '{"a":1}' },
    { id: null, data: null },
  ]);
  assert.deepEqual(parser.push(bytes('id: x\ndata: a\ndata: b\n\n')), [{ id: null, data: 'a\nb' }]);
  // A character split between two chunks survives.
  const split = bytes('data: é\n\n');
  assert.deepEqual(parser.push(split.slice(0, 7)), []);
  assert.deepEqual(parser.push(split.slice(7)), [{ id: null, data: 'é' }]);
});

test('events are read as strictly as the Rust guard reads them', () => {
  const event = readEventText('{"seq":3,"type":"session.revoked","session":"s","occurred":"2026-01-01T00:00:00.5Z"}');
  assert.deepEqual([event.seq, event.session, event.occurred % 1_000_000], [3, 's', 500_000]);
  for (const bad of [
    '{"seq":3.0,"type":"x"}',
    '{"seq":3,"seq":4,"type":"x"}',
    '{"type":"x"}',
    '{"seq":3,"type":"x","occurred":"yesterday"}',
    '[1]',
  ]) {
    assert.throws(() => readEventText(bad), Error, bad);
  }
});

async function jwksServer(delayMs) {
  const served = { fetches: 0, delayMs };
  const server = createServer(async (req, res) => {
    served.fetches += 1;
    await sleep(served.delayMs);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JWKS);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  served.url = `http://127.0.0.1:${server.address().port}/jwks.json`;
  served.close = () => new Promise((resolve) => server.close(resolve));
  return served;
}

const codeOf = (promise) => promise.then(() => 'accepted', (error) => error.code);

test('an unknown kid fetches once per cooldown, and concurrent callers share a fetch', async () => {
  const served = await jwksServer(0);
  try {
    const keys = new KeyCache(served.url, 500, 5000);
    await keys.load();
    assert.ok(await keys.get('k1'));
    for (let n = 0; n < 5; n += 1) assert.equal(await codeOf(keys.get('k9')), 'unknown_key');
    assert.equal(keys.fetches, 1, 'the fetch at start counts towards the cooldown');
    await sleep(600);
    served.delayMs = 200;
    const codes = await Promise.all(Array.from({ length: 8 }, () => codeOf(keys.get('k9'))));
    assert.deepEqual(codes, Array(8).fill('unknown_key'));
    assert.equal(keys.fetches, 2, 'one fetch for eight concurrent callers');
    assert.equal(served.fetches, 2);
  } finally {
    await served.close();
  }
});

test('an unreachable JWKS is unavailable and starts the cooldown', async () => {
  const keys = new KeyCache('http://127.0.0.1:9/jwks.json', 30_000, 2000);
  assert.equal(await codeOf(keys.get('k1')), 'unavailable');
  assert.equal(await codeOf(keys.get('k1')), 'unknown_key');
  assert.equal(keys.fetches, 1);
});

test('the Express middleware answers a refusal without calling the app', async () => {
  const guard = { log: {}, checkHeader: async () => { throw new Rejection('unavailable', 'down'); } };
  const headers = {};
  const res = {
    setHeader: (name, value) => { headers[name] = value; },
    end: () => {},
  };
  let ended;
  const done = new Promise((resolve) => { ended = resolve; });
  res.end = ended;
  expressMiddleware(guard)({ headers: { authorization: 'Bearer x' } }, res, () => assert.fail('the app was called'));
  await done;
  assert.equal(res.statusCode, 503);
  assert.equal(headers['WWW-Authenticate'], 'Bearer error="invalid_token", error_description="unavailable"');
});

// Scimitar's JWKS, feed and stream, as far as the follower goes: the feed holds event 1; the
// first stream connection sends event 2 and ends; later ones send a heartbeat and end.
async function fakeScimitar() {
  const streams = [];
  const server = createServer((req, res) => {
    const now = new Date().toISOString();
    const json = (body) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url.startsWith('/.well-known/jwks.json')) return res.writeHead(200).end(JWKS);
    if (req.url.startsWith('/events/v1/revocations?after=0&')) {
      return json({ events: [{ seq: 1, type: 'session.revoked', session: 's1', occurred: now }], next: 1, head: 1, more: false });
    }
    if (req.url.startsWith('/events/v1/revocations')) return json({ events: [], next: 1, head: 1, more: false });
    streams.push([req.headers['last-event-id'], req.headers.authorization]);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    if (streams.length === 1) {
      const event = { seq: 2, type: 'session.revoked', session: 's2', occurred: now };
      return res.end(`retry: 1000\n\nid: 2\nevent: session.revoked\ndata: ${JSON.stringify(event)}\n\n`);
    }
    res.write(': heartbeat\n\n');
    setTimeout(() => res.end(), 200);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    root: `http://127.0.0.1:${server.address().port}`,
    streams,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

test('the stream resumes with Last-Event-ID after the feed and after each disconnect', async () => {
  const { Guard } = await import('../src/index.js');
  const fake = await fakeScimitar();
  try {
    const guard = await Guard.start({ issuer: fake.root, clientId: 'app', clientSecret: 'secret', staleAfterMs: 2000 }, { log: {} });
    const deadline = performance.now() + 3000;
    while (fake.streams.length < 3 && performance.now() < deadline) await sleep(20);
    const status = guard.status();
    await guard.close();
    assert.deepEqual(fake.streams.slice(0, 3).map(([cursor]) => cursor), ['1', '2', '2']);
    assert.equal(fake.streams[0][1], 'Basic YXBwOnNlY3JldA=='); // app:secret
    assert.deepEqual([status.cursor, status.entries, status.fresh], [2, 2, true]);
    assert.ok(status.reconnects >= 2);
  } finally {
    await fake.close();
  }
});
