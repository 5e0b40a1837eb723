/**
 * Who sent a request and where they reached us: the client's address and the origin
 * (`scheme://host`) they used. Read once per request into the request state.
 *
 * The address is the socket's peer, or, when that peer is a configured trusted proxy
 * (`berth.trustedproxies`), the nearest untrusted hop that `Forwarded` (RFC 7239) or
 * `X-Forwarded-For` names. `X-Forwarded-Proto` and `X-Forwarded-Host` are believed only from a
 * trusted proxy too: from anyone else they would let a client choose the realm of a Bearer
 * challenge or the host of a `Location` header.
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { hostHeader } from './protocol.js';

/** The trusted proxy addresses and ranges of `berth.trustedproxies`. */
export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(ranges: readonly string[]) {
    for (const range of ranges) {
      const [address, bits] = range.trim().split('/');
      const family = isIP(address!) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(address!, family);
      else this.list.addSubnet(address!, Number(bits), family);
    }
    this.empty = ranges.length === 0;
  }

  trusts(address: string): boolean {
    if (this.empty) return false;
    const family = isIP(address);
    return family !== 0 && this.list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }
}

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack socket) is `10.0.0.1`. */
export function normaliseAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address.toLowerCase();
}

/** The address in one `Forwarded: for=` or `X-Forwarded-For` entry, without port or brackets. */
export function hopAddress(entry: string): string | undefined {
  let value = entry.trim();
  if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    if (end === -1) return undefined;
    value = value.slice(1, end);
  } else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(value)) {
    value = value.slice(0, value.lastIndexOf(':'));
  }
  return isIP(value) ? normaliseAddress(value) : undefined;
}

/** The `for=` values of a `Forwarded` header, first hop first. */
export function forwardedFor(header: string): string[] {
  const hops: string[] = [];
  for (const element of header.split(',')) {
    const pair = element
      .split(';')
      .map((part) => part.trim())
      .find((part) => part.toLowerCase().startsWith('for='));
    // An element without `for=` still is a hop: keep its place so that the walk stops there.
    hops.push(pair ? pair.slice(4) : '');
  }
  return hops;
}

function headerText(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * The client's address. From the socket's peer, hops named by a trusted proxy are walked from
 * the nearest one back, and the first address that is not itself a trusted proxy is the client.
 * An entry that names no address stops the walk at the proxy that wrote it.
 */
export function clientAddress(request: IncomingMessage, proxies: TrustedProxies): string {
  const peer = request.socket.remoteAddress;
  let address = peer ? normaliseAddress(peer) : 'local';
  if (!proxies.trusts(address)) return address;
  const forwarded = headerText(request.headers.forwarded);
  const xff = headerText(request.headers['x-forwarded-for']);
  const hops = forwarded !== undefined ? forwardedFor(forwarded) : xff !== undefined ? xff.split(',') : [];
  for (let index = hops.length - 1; index >= 0; index -= 1) {
    const hop = hopAddress(hops[index]!);
    if (hop === undefined) return address;
    address = hop;
    if (!proxies.trusts(address)) return address;
  }
  return address;
}

/** What a trusted proxy says the client used: `X-Forwarded-Proto` and `X-Forwarded-Host`. */
export interface ForwardedOrigin {
  proto?: string;
  host?: string;
}

function firstValue(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  const first = text?.split(',')[0]?.trim();
  return first ? first : undefined;
}

/** The scheme and host a trusted proxy forwarded, or nothing when the peer is not trusted. */
export function forwardedOrigin(request: IncomingMessage, proxies: TrustedProxies): ForwardedOrigin {
  const peer = request.socket.remoteAddress;
  if (!peer || !proxies.trusts(normaliseAddress(peer))) return {};
  return {
    proto: firstValue(request.headers['x-forwarded-proto']),
    host: firstValue(request.headers['x-forwarded-host']),
  };
}

/** Everything the origin is derived from, as the request state keeps it. */
export interface OriginParts {
  /** `http` or `https`: how this connection reached us. */
  scheme: string;
  /** The Host header (HTTP/2's `:authority`), or the authority of an absolute-form target. */
  host?: string;
  forwarded: ForwardedOrigin;
}

export function originParts(request: IncomingMessage, proxies: TrustedProxies, authority?: string): OriginParts {
  return {
    scheme: (request.socket as Partial<TLSSocket>).encrypted ? 'https' : 'http',
    host: authority || firstValue(hostHeader(request)),
    forwarded: forwardedOrigin(request, proxies),
  };
}

/**
 * The origin clients reached this server at: `http.host` when configured, else the scheme and
 * host a trusted proxy forwarded, else the connection's scheme (or `defaultScheme`) and Host.
 */
export function originOf(parts: OriginParts, configuredHost?: string, defaultScheme?: string): string {
  if (configuredHost) return configuredHost.replace(/\/+$/, '');
  const scheme = parts.forwarded.proto ?? defaultScheme ?? parts.scheme;
  const host = parts.forwarded.host ?? parts.host ?? 'localhost';
  return `${scheme}://${host}`;
}

/** Whether an address is this machine's: 127.0.0.0/8, ::1, or a local (Unix socket) peer. */
export function isLoopback(address: string): boolean {
  if (address === 'local' || address === '::1') return true;
  return isIP(address) === 4 && address.startsWith('127.');
}
