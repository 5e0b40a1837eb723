/**
 * A small but real token server for the Docker token authentication spec: `GET /token` with
 * `service`, `scope` and optional Basic credentials answers a JWT signed with RS256, carrying the
 * signing certificate in `x5c` so a registry configured with `auth.token.rootcertbundle` trusts
 * it. Users are a plain map; `grant` decides which actions each user gets. Every request is
 * recorded so tests can count them.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { importPKCS8, SignJWT } from 'jose';
import { tempDir } from './berth.js';

export interface Access {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenRequest {
  account?: string;
  service?: string;
  scopes: string[];
  status: number;
}

export interface TokenIssuer {
  realm: string;
  service: string;
  issuer: string;
  certPath: string;
  requests: TokenRequest[];
  close(): Promise<void>;
}

export interface TokenIssuerOptions {
  users: Record<string, string>;
  /** Actions a user (undefined: anonymous) gets on a requested resource; default: all asked for, anonymous none. */
  grant?: (user: string | undefined, access: Access) => string[];
  /** Token lifetime in seconds (default 300). */
  expiresIn?: number;
}

function parseScope(scope: string): Access | undefined {
  const parts = scope.split(':');
  if (parts.length < 3) return undefined;
  const actions = parts.pop()!.split(',').filter(Boolean);
  const type = parts.shift()!;
  return { type, name: parts.join(':'), actions };
}

export async function startTokenIssuer(options: TokenIssuerOptions): Promise<TokenIssuer> {
  const folder = tempDir('token-issuer-');
  const keyPath = join(folder, 'key.pem');
  const certPath = join(folder, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      '/CN=berth-test-token-issuer',
    ],
    { stdio: 'ignore' },
  );
  const key = await importPKCS8(readFileSync(keyPath, 'utf8'), 'RS256');
  const certDer = new X509Certificate(readFileSync(certPath)).raw.toString('base64');
  const service = 'berth-test-registry';
  const issuer = 'berth-test-issuer';
  const requests: TokenRequest[] = [];
  const grant = options.grant ?? ((user, access) => (user ? access.actions : []));
  const server: Server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const scopes = url.searchParams
        .getAll('scope')
        .flatMap((scope) => scope.split(' '))
        .filter(Boolean);
      const record: TokenRequest = { service: url.searchParams.get('service') ?? undefined, scopes, status: 200 };
      requests.push(record);
      let user: string | undefined;
      const header = request.headers.authorization;
      if (header?.startsWith('Basic ')) {
        const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        const name = decoded.slice(0, colon);
        if (options.users[name] === undefined || options.users[name] !== decoded.slice(colon + 1)) {
          record.status = 401;
          response.writeHead(401, { 'Content-Type': 'application/json' }).end('{"details":"invalid credentials"}');
          return;
        }
        user = name;
        record.account = name;
      }
      const access = scopes
        .map(parseScope)
        .filter((entry): entry is Access => entry !== undefined)
        .map((entry) => ({
          ...entry,
          actions: grant(user, entry).filter((action) => entry.actions.includes(action) || entry.actions.includes('*')),
        }));
      const expiresIn = options.expiresIn ?? 300;
      const token = await new SignJWT({ access })
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', x5c: [certDer] })
        .setIssuer(issuer)
        .setSubject(user ?? '')
        .setAudience(service)
        .setIssuedAt()
        .setNotBefore(Math.floor(Date.now() / 1000) - 10)
        .setExpirationTime(Math.floor(Date.now() / 1000) + expiresIn)
        .setJti(randomUUID())
        .sign(key);
      response
        .writeHead(200, { 'Content-Type': 'application/json' })
        .end(
          JSON.stringify({ token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() }),
        );
    })().catch((error: unknown) => {
      response.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certPath,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(folder, { recursive: true, force: true });
    },
  };
}
