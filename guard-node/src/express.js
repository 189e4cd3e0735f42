// Express middleware (also Connect and plain `node:http` handlers): lets through only
// requests with an accepted token, with its claims in `req.claims` (and `res.locals.claims`).
// A refused request is answered 401 with `WWW-Authenticate: Bearer error="invalid_token",
// error_description="<code>"` (a bare `Bearer` without a token), or 503 when Scimitar could
// not be asked; the body is empty.
//
//     app.use(guard.express());

import { Rejection } from './errors.js';

/** Sends the answer to a refused request on a `node:http` response. */
export function refuse(res, rejection) {
  res.statusCode = rejection.status;
  res.setHeader('WWW-Authenticate', rejection.challenge());
  res.setHeader('Content-Length', '0');
  res.end();
}

export function expressMiddleware(guard) {
  return function scimitarGuard(req, res, next) {
    guard.checkHeader(req.headers.authorization).then(
      (claims) => {
        req.claims = claims;
        if (res.locals) res.locals.claims = claims;
        next();
      },
      (error) => {
        if (!(error instanceof Rejection)) return next(error);
        guard.log.info?.(`token refused: ${error.message}`);
        refuse(res, error);
      },
    );
  };
}
