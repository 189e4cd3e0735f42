// A tiny API behind Scimitar, protected by the Node guard in one line (Express): every request
// needs a valid, unrevoked access token, checked offline; a deactivated user's token is
// refused within milliseconds, from the revocation stream.
//
//   cd guard-node && npm ci
//   SCIMITAR_URL=http://127.0.0.1:8080 CLIENT_ID=... CLIENT_SECRET=... \
//     node examples/guarded-app.js          # listens on 127.0.0.1:3002 (BIND overrides)
//   curl -H "authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:3002/me
//
// The Rust guard's example (examples/guarded-app) and the Python one
// (guard-python/examples/guarded_app.py) answer the same; benches/guard_latency measures all three.

import express from 'express';
import { Guard } from '@scimitar/guard';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`set ${name}`);
    process.exit(1);
  }
  return value;
}

const guard = await Guard.start({
  issuer: required('SCIMITAR_URL'),
  clientId: required('CLIENT_ID'),
  clientSecret: required('CLIENT_SECRET'),
});

const app = express();
app.use(guard.express()); // the one line
app.get('/me', (req, res) => res.json({ user: req.claims.sub, roles: req.claims.roles }));

const bind = process.env.BIND ?? '127.0.0.1:3002';
const at = bind.lastIndexOf(':');
const server = app.listen(Number(bind.slice(at + 1)), bind.slice(0, at), () => {
  console.log(`guarded-app listening on ${bind.slice(0, at)}:${server.address().port}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close();
    guard.close().finally(() => process.exit(0));
  });
}
