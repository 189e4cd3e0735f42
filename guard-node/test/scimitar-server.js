// The real Scimitar for the end-to-end tests: `scimitar serve` (the binary named by
// SCIMITAR_BIN) on a random port and a fresh SQLite database in a temporary directory, with
// the few SCIM and OAuth calls the tests make.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const BASE_URL_LINE = 'SCIM base URL (tenant URL for Okta or Entra): ';
const TOKEN_LINE = 'SCIM bearer token: ';

export const binary = process.env.SCIMITAR_BIN || null;

function environment() {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SCIMITAR_')));
}

export class Scimitar {
  static async start() {
    const server = new Scimitar();
    await server.#started;
    return server;
  }

  #started;

  constructor() {
    this.workdir = mkdtempSync(join(tmpdir(), 'scimitar-guard-node-'));
    this.database = join(this.workdir, 's.db');
    this.process = spawn(binary, ['serve', '--bind', '127.0.0.1:0', '--database', this.database], {
      cwd: this.workdir,
      env: environment(),
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    this.exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.#started = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('scimitar serve did not print its address in time')), 60_000);
      const lines = createInterface({ input: this.process.stdout });
      lines.on('line', (line) => {
        if (line.startsWith(TOKEN_LINE)) this.scimToken = line.slice(TOKEN_LINE.length).trim();
        if (line.startsWith(BASE_URL_LINE)) {
          this.scimBase = line.slice(BASE_URL_LINE.length).trim();
          this.root = this.scimBase.slice(0, -'/scim/v2'.length);
          clearTimeout(timer);
          resolve();
        }
      });
      this.process.once('exit', () => reject(new Error('scimitar serve exited')));
    });
  }

  async stop() {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      this.process.kill('SIGKILL');
      await this.exited;
    }
  }

  async close() {
    await this.stop();
    rmSync(this.workdir, { recursive: true, force: true });
  }

  cli(...args) {
    const out = execFileSync(binary, [...args, '--database', this.database], {
      cwd: this.workdir,
      env: environment(),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return JSON.parse(out);
  }

  /** A trusted app client: { id, secret }. */
  appClient(name = 'app') {
    const created = this.cli('client', 'create', '--name', name, '--kind', 'app', '--trusted');
    return { id: created.client_id, secret: created.secret };
  }

  async scim(method, path, document) {
    const response = await fetch(`${this.scimBase}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.scimToken}`, 'content-type': 'application/scim+json' },
      body: JSON.stringify(document),
    });
    const body = await response.text();
    if (!response.ok) throw new Error(`SCIM ${method} ${path}: ${response.status} ${body}`);
    return body ? JSON.parse(body) : {};
  }

  async createUser(userName) {
    return (await this.scim('POST', '/Users', { userName, active: true })).id;
  }

  deactivate(user) {
    return this.scim('PATCH', `/Users/${user}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: 'active', value: false }],
    });
  }

  async oauth(client, endpoint, form) {
    const response = await fetch(`${this.root}/oauth2/${endpoint}`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(form).toString(),
    });
    const body = await response.text();
    if (response.status !== 200) throw new Error(`${endpoint}: ${response.status} ${body}`);
    return body ? JSON.parse(body) : {};
  }

  /** A new session for `user` by the trusted token exchange; its access token. */
  async accessToken(client, user) {
    const answer = await this.oauth(client, 'token', {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: user,
      subject_token_type: 'urn:scimitar:params:oauth:token-type:scim-user',
    });
    return answer.access_token;
  }

  revoke(client, token) {
    return this.oauth(client, 'revoke', { token });
  }
}
