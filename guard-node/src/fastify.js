// A Fastify plugin: lets through only requests with an accepted token, with its claims in
// `request.claims`. A refused request is answered 401 with `WWW-Authenticate: Bearer
// error="invalid_token", error_description="<code>"` (a bare `Bearer` without a token), or
// 503 when Scimitar could not be asked; the body is empty. The plugin applies to the whole
// app (it skips Fastify's encapsulation, as fastify-plugin would), whatever the routes'
// registration order.
//
//     app.register(guard.fastify());

import { Rejection } from './errors.js';

export function fastifyPlugin(guard) {
  async function scimitarGuard(app) {
    app.decorateRequest('claims', null);
    app.addHook('onRequest', async (request, reply) => {
      try {
        request.claims = await guard.checkHeader(request.headers.authorization);
      } catch (error) {
        if (!(error instanceof Rejection)) throw error;
        request.log.info(`token refused: ${error.message}`);
        reply.code(error.status).header('WWW-Authenticate', error.challenge()).send();
        return reply;
      }
    });
  }
  scimitarGuard[Symbol.for('skip-override')] = true;
  scimitarGuard[Symbol.for('fastify.display-name')] = 'scimitar-guard';
  return scimitarGuard;
}
