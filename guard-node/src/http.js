// The few HTTP requests a guard makes to Scimitar (JWKS, feed, stream, introspection), with
// Node's own fetch. Every failure is a Rejection('unavailable').

import { Rejection } from './errors.js';

/** An HTTP Basic `Authorization` value for the app client's id and secret. */
export function basic(clientId, secret) {
  return `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
}

/**
 * Sends a GET (or a POST of `form`) and resolves to the response of a 2xx answer. The request
 * is abandoned when `signal` aborts or after `timeoutMs` (the whole exchange, body included).
 */
export async function request(url, { what, timeoutMs, headers = {}, form = null, signal = null }) {
  const signals = [AbortSignal.timeout(timeoutMs)];
  if (signal) signals.push(signal);
  const init = { headers: { ...headers }, signal: AbortSignal.any(signals) };
  if (form) {
    init.method = 'POST';
    init.body = new URLSearchParams(form).toString();
    init.headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new Rejection('unavailable', `${what}: ${error.cause?.message ?? error.message}`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new Rejection('unavailable', `${what}: status ${response.status}`);
  }
  return response;
}

/** The body of a 2xx answer, as bytes. */
export async function fetchBytes(url, options) {
  const response = await request(url, options);
  try {
    return new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    throw new Rejection('unavailable', `${options.what}: ${error.message}`);
  }
}
