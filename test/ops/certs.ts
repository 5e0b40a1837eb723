/**
 * Throw-away certificates for TLS tests, made with the openssl command line: a server
 * certificate for 127.0.0.1, a client CA, a client certificate it signed, and a self-signed
 * client certificate no CA vouches for. EC P-256 keys keep generation fast.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findTool } from '../helpers/tools.js';

export const openssl = () => findTool('openssl', 'openssl', ['openssl', 'version']);

export interface Pem {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

export interface TestCertificates {
  server: Pem;
  ca: Pem;
  client: Pem;
  rogueClient: Pem;
}

function run(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function selfSigned(folder: string, name: string, subject: string, extensions: string[]): Pem {
  run(
    [
      'req',
      '-x509',
      ...NEW_KEY,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-subj',
      subject,
      ...extensions.flatMap((ext) => ['-addext', ext]),
    ],
    folder,
  );
  return pem(folder, name);
}

function pem(folder: string, name: string): Pem {
  const certFile = join(folder, `${name}.crt`);
  const keyFile = join(folder, `${name}.key`);
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

export function makeCertificates(folder: string): TestCertificates {
  const server = selfSigned(folder, 'server', '/CN=127.0.0.1', ['subjectAltName=IP:127.0.0.1,DNS:localhost']);
  const ca = selfSigned(folder, 'ca', '/CN=Berth test client CA', [
    'basicConstraints=critical,CA:TRUE',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  run(['req', ...NEW_KEY, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=test-client'], folder);
  writeFileSync(join(folder, 'client.ext'), 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n');
  run(
    [
      'x509',
      '-req',
      '-in',
      'client.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'client.crt',
      '-days',
      '2',
      '-extfile',
      'client.ext',
    ],
    folder,
  );
  const client = pem(folder, 'client');
  const rogueClient = selfSigned(folder, 'rogue', '/CN=rogue-client', ['extendedKeyUsage=clientAuth']);
  return { server, ca, client, rogueClient };
}
