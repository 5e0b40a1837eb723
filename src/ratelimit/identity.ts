/**
 * Who a request is counted against: the signed-in user when the auth guard has established one,
 * otherwise the client's address. The address is the socket's peer, or, when that peer is a
 * configured trusted proxy, the nearest untrusted hop that `Forwarded` (RFC 7239) or
 * `X-Forwarded-For` names. Headers from anyone else are ignored, so a client cannot pick its own
 * identity by sending them.
 *
 * IPv6 clients are counted per /64, as Docker Hub counts them: one host usually holds a whole
 * /64 and could otherwise take a fresh budget with every address.
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

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
    const pair = element.split(';').map((part) => part.trim()).find((part) => part.toLowerCase().startsWith('for='));
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

/** The eight 16-bit groups of an IPv6 address, or undefined when it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.split('%')[0]!;
  const embedded = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (embedded) {
    const [a, b, c, d] = embedded.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, embedded.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...Array<string>(Math.max(missing, 0)).fill('0'), ...tail].map((group) => parseInt(group, 16));
  return groups.length === 8 && groups.every((group) => group >= 0 && group <= 0xffff) ? groups : undefined;
}

/** What an address is counted as: itself for IPv4, its /64 for IPv6. */
export function addressKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const groups = ipv6Groups(address);
  if (!groups) return address;
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}

/** The caller a budget is chosen for: a user and their groups, or nobody (an anonymous caller). */
export interface Caller {
  user?: string;
  groups: readonly string[];
}

/** The counter key of a caller: `user:<name>` when signed in, else `address:<address or /64>`. */
export function identityKey(caller: Caller, address: string): string {
  return caller.user !== undefined ? `user:${caller.user}` : `address:${addressKey(address)}`;
}
