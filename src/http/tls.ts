/**
 * HTTPS from `http.tls`: certificate and key, client certificates checked against `clientcas`
 * in the chosen `clientauth` mode, the minimum protocol version and the cipher suites, all with
 * Distribution's defaults. What Berth cannot do (Let's Encrypt) stops start-up rather than
 * quietly serving plain HTTP.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Server as HttpsServer, ServerOptions as HttpsOptions } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { ConfigError } from '../config/load.js';
import type { HttpConfig } from '../config/schema.js';
import {
  CIPHER_SUITES,
  DEFAULT_CIPHER_SUITES,
  TLS13_SUITES,
  TLS_VERSIONS,
  type ClientAuthMode,
} from '../config/tls.js';

type TlsConfig = NonNullable<HttpConfig['tls']>;

function readPem(key: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(`${key}: cannot read ${file}: ${(error as Error).message}`);
  }
}

/** OpenSSL's cipher string for Go suite names; TLS 1.3 suites are always offered, as in Go. */
function cipherString(tls: TlsConfig): string {
  const names = new Set(tls.ciphersuites ?? DEFAULT_CIPHER_SUITES);
  for (const suite of TLS13_SUITES) names.add(suite);
  return [...names].map((name) => CIPHER_SUITES[name]).join(':');
}

/** Node's HTTPS options for `http.tls`, or undefined to serve plain HTTP. */
export function httpsOptions(tls: HttpConfig['tls']): HttpsOptions | undefined {
  if (!tls) return undefined;
  if (tls.letsencrypt !== undefined && tls.letsencrypt !== null) {
    throw new ConfigError(
      "http.tls.letsencrypt: Let's Encrypt certificates are not supported; obtain a certificate (for example with certbot) and set http.tls.certificate and http.tls.key",
    );
  }
  if (!tls.certificate && !tls.key) {
    const set = (['clientcas', 'minimumtls', 'ciphersuites'] as const).filter((key) => tls[key] !== undefined);
    if (set.length > 0) throw new ConfigError(`http.tls.${set[0]} needs http.tls.certificate and http.tls.key`);
    return undefined;
  }
  if (!tls.certificate) throw new ConfigError('http.tls.certificate: required with http.tls.key');
  if (!tls.key) throw new ConfigError('http.tls.key: required with http.tls.certificate');

  const options: HttpsOptions = {
    cert: readPem('http.tls.certificate', tls.certificate),
    key: readPem('http.tls.key', tls.key),
    minVersion: TLS_VERSIONS[tls.minimumtls ?? 'tls1.2'],
    ciphers: cipherString(tls),
  };
  if (tls.clientcas && tls.clientcas.length > 0) {
    options.ca = tls.clientcas.map((file, index) => readPem(`http.tls.clientcas.${index}`, file));
    options.requestCert = true;
    // Only the strictest mode can be left to the handshake; the others are checked per connection.
    options.rejectUnauthorized = tls.clientauth === 'require-and-verify-client-cert';
  }
  try {
    // Required here, not imported: importing node:tls as a module reads its root certificates
    // into memory (about 2 MB), which a server without TLS has no use for.
    const { createSecureContext } = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
    createSecureContext(options);
  } catch (error) {
    throw new ConfigError(
      `http.tls: the certificate, key or cipher suites are not usable: ${(error as Error).message}`,
    );
  }
  return options;
}

/** Whether a connection's client certificate satisfies the `clientauth` mode. */
function clientCertificateAccepted(socket: TLSSocket, mode: ClientAuthMode): boolean {
  const presented = Object.keys(socket.getPeerCertificate() ?? {}).length > 0;
  switch (mode) {
    case 'request-client-cert':
      return true;
    case 'require-any-client-cert':
      return presented;
    case 'verify-client-cert-if-given':
      return !presented || socket.authorized;
    case 'require-and-verify-client-cert':
      return presented && socket.authorized;
  }
}

/** Enforces the `clientauth` modes the TLS handshake alone does not. */
export function enforceClientAuth(server: HttpsServer, tls: HttpConfig['tls']): void {
  if (!tls?.clientcas?.length || tls.clientauth === 'require-and-verify-client-cert') return;
  const mode = tls.clientauth;
  server.on('secureConnection', (socket: TLSSocket) => {
    if (!clientCertificateAccepted(socket, mode)) socket.destroy();
  });
}
