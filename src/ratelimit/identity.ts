/**
 * Who a request is counted against: the signed-in user when the auth guard has established one,
 * otherwise the client's address (src/request/client.ts works it out once per request).
 *
 * IPv6 clients are counted per /64, as Docker Hub counts them: one host usually holds a whole
 * /64 and could otherwise take a fresh budget with every address.
 */
import { isIP } from 'node:net';

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
  const groups = [...head, ...Array<string>(Math.max(missing, 0)).fill('0'), ...tail].map((group) =>
    parseInt(group, 16),
  );
  return groups.length === 8 && groups.every((group) => group >= 0 && group <= 0xffff) ? groups : undefined;
}

/** What an address is counted as: itself for IPv4, its /64 for IPv6. */
export function addressKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const groups = ipv6Groups(address);
  if (!groups) return address;
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
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
