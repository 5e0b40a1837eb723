/**
 * Shared pieces of the auth tests: the `berth` command line, htpasswd files, key pairs and certificates (made with Berth's
 * own certificate writer), tokens minted by hand with jose, and a client that goes through the
 * token flow the way registry clients do (challenge → token server → retry).
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { SignJWT } from 'jose';
import { createCertificate } from '../../src/auth/token/x509.js';
import { asBody, type Image } from '../helpers/content.js';
import { REPO_ROOT } from '../helpers/berth-process.js';

/** Runs the CLI with `input` on stdin; resolves with exit code and output. */
export function berthCli(args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

export function writeHtpasswd(folder: string, users: Record<string, string>, name = 'htpasswd'): string {
  const path = join(folder, name);
  // Cost 4: fast tests; the server reads any bcrypt cost.
  writeFileSync(
    path,
    Object.entries(users)
      .map(([user, password]) => `${user}:${bcrypt.hashSync(password, 4)}\n`)
      .join(''),
  );
  return path;
}

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function ecKey(): KeyPair {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

export function rsaKey(): KeyPair {
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}

export interface Certified extends KeyPair {
  name: string;
  pem: string;
  /** base64 DER, as `x5c` carries it. */
  der: string;
}

const HOUR = 3_600_000;

export function certify(
  key: KeyPair,
  name: string,
  issuer?: Certified,
  options: { ca?: boolean; validFor?: [number, number] } = {},
): Certified {
  const now = Date.now();
  const [from, to] = options.validFor ?? [-HOUR, 24 * HOUR];
  const pem = createCertificate({
    publicKey: key.publicKey,
    commonName: name,
    issuerKey: issuer?.privateKey ?? key.privateKey,
    issuerName: issuer?.name ?? name,
    notBefore: new Date(now + from),
    notAfter: new Date(now + to),
    ca: options.ca,
  });
  const der = pem.replace(/-----[A-Z ]+-----|\s/g, '');
  return { ...key, name, pem, der };
}

export interface MintOptions {
  key: KeyObject;
  alg?: string;
  header?: Record<string, unknown>;
  iss?: string;
  sub?: string;
  aud?: string | string[];
  /** Seconds from now. */
  exp?: number;
  nbf?: number;
  access?: Array<{ type: string; name: string; actions: string[] }>;
  omit?: string[];
}

/** A token signed as a third-party token server would. */
export async function mint(options: MintOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: options.iss ?? 'test-issuer',
    sub: options.sub ?? 'alice',
    aud: options.aud ?? 'test-service',
    exp: now + (options.exp ?? 300),
    nbf: now + (options.nbf ?? 0),
    iat: now,
    jti: String(Math.random()),
    access: options.access ?? [],
  };
  for (const key of options.omit ?? []) delete claims[key];
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'ES256', typ: 'JWT', ...options.header } as never)
    .sign(options.key);
}

/** A JWT with any header and claims, signed with an HMAC secret or not at all. */
export function unsignedToken(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  signature = '',
): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part(header)}.${part(claims)}.${signature}`;
}

/** The claims of a JWT, unverified. */
export function claimsOf(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
}

export function headerOf(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8'));
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

export function parseChallenge(header: string | null | undefined): Challenge | undefined {
  if (!header) return undefined;
  const space = header.indexOf(' ');
  const params: Record<string, string> = {};
  for (const match of header.slice(space + 1).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) params[match[1]!] = match[2]!;
  return { scheme: header.slice(0, space), params };
}

/** Asks a token server for a token, as clients do after a challenge. */
export async function fetchToken(
  realm: string,
  params: { service: string; scopes: string[]; account?: string; offline?: boolean },
  credentials?: [string, string],
): Promise<{ status: number; body: Record<string, any> }> {
  const url = new URL(realm);
  url.searchParams.set('service', params.service);
  for (const scope of params.scopes) url.searchParams.append('scope', scope);
  if (params.account) url.searchParams.set('account', params.account);
  if (params.offline) url.searchParams.set('offline_token', 'true');
  const response = await fetch(url, { headers: credentials ? { Authorization: basic(...credentials) } : {} });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/**
 * Sends a request the way a registry client does: without credentials first; on a Bearer
 * challenge, fetches a token for the challenged scope with the given credentials and retries.
 */
export async function withTokenFlow(
  url: string,
  init: RequestInit = {},
  credentials?: [string, string],
): Promise<Response> {
  const first = await fetch(url, init);
  const challenge = parseChallenge(first.headers.get('www-authenticate'));
  if (first.status !== 401 || challenge?.scheme !== 'Bearer') return first;
  await first.arrayBuffer();
  const { status, body } = await fetchToken(
    challenge.params.realm!,
    { service: challenge.params.service!, scopes: challenge.params.scope ? [challenge.params.scope] : [] },
    credentials,
  );
  if (status !== 200) throw new Error(`token server answered ${status}: ${JSON.stringify(body)}`);
  const headers = new Headers(init.headers);
  headers.set('Authorization', `Bearer ${body.token}`);
  return fetch(url, { ...init, headers });
}

/** Pushes an image's blobs and manifest (tag `latest`) with the given headers on every request. */
export async function pushImageWith(
  url: string,
  name: string,
  image: Image,
  headers: Record<string, string>,
): Promise<void> {
  for (const blob of [image.config, ...image.layers]) {
    const start = await fetch(`${url}/v2/${name}/blobs/uploads/`, { method: 'POST', headers });
    if (start.status !== 202) throw new Error(`POST upload to ${name}: ${start.status} ${await start.text()}`);
    const location = new URL(start.headers.get('location')!, url);
    location.searchParams.set('digest', blob.digest);
    const put = await fetch(location, {
      method: 'PUT',
      body: asBody(blob.content),
      headers: { ...headers, 'Content-Type': 'application/octet-stream' },
    });
    if (put.status !== 201) throw new Error(`PUT upload to ${name}: ${put.status} ${await put.text()}`);
  }
  const manifest = await fetch(`${url}/v2/${name}/manifests/latest`, {
    method: 'PUT',
    body: asBody(image.manifest),
    headers: { ...headers, 'Content-Type': image.mediaType },
  });
  if (manifest.status !== 201) throw new Error(`PUT manifest to ${name}: ${manifest.status} ${await manifest.text()}`);
}
