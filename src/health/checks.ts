/**
 * The checks of Distribution's `health` section, each a function that resolves when healthy and
 * throws (with Distribution's message) when not:
 *   storagedriver  the storage backend answers and its root is readable and writable
 *   file           the file is absent (creating it takes an instance out of rotation)
 *   http           a HEAD request answers with the expected status
 *   tcp            a TCP connection opens
 */
import { access } from 'node:fs/promises';
import { connect } from 'node:net';
import { parseTcpAddress } from '../config/address.js';
import type { StorageDriver } from '../storage/driver.js';

export type Check = () => Promise<void>;

export function storageCheck(driver: StorageDriver): Check {
  return () => driver.ping();
}

export function fileCheck(path: string): Check {
  return async () => {
    const exists = await access(path).then(
      () => true,
      () => false,
    );
    if (exists) throw new Error('file exists');
  };
}

export function httpCheck(options: {
  uri: string;
  headers: Record<string, string[]>;
  statuscode: number;
  timeoutMs: number;
}): Check {
  const headers = new Headers();
  for (const [name, values] of Object.entries(options.headers)) for (const value of values) headers.append(name, value);
  return async () => {
    const response = await fetch(options.uri, {
      method: 'HEAD',
      headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs),
    }).catch((error: Error) => {
      throw new Error(`error while checking: ${options.uri}: ${error.message}`);
    });
    if (response.status !== options.statuscode)
      throw new Error(`downstream service returned unexpected status: ${response.status}`);
  };
}

export function tcpCheck(addr: string, timeoutMs: number): Check {
  const address = parseTcpAddress(addr);
  return () =>
    new Promise<void>((resolve, reject) => {
      if (!address) return reject(new Error(`connection to ${addr} failed: not host:port`));
      const socket = connect({ host: address.host, port: address.port });
      const fail = () => {
        socket.destroy();
        reject(new Error(`connection to ${addr} failed`));
      };
      socket.setTimeout(timeoutMs, fail);
      socket.once('error', fail);
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
    });
}
