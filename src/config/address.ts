/** `http.addr` as Distribution writes it for TCP: ":5000", "localhost:5000", "[::1]:5000". */
export interface ListenAddress {
  host: string;
  port: number;
}

/** Go listens on every interface for ":5000"; Berth does the same for IPv4. */
const ALL_INTERFACES = '0.0.0.0';

/** The host and port in `addr`, or undefined when it is not `[host]:port` with a port 0–65535. */
export function parseTcpAddress(addr: string): ListenAddress | undefined {
  // An IPv6 host needs brackets, as in Go: "[::1]:5000".
  const match = /^(?:\[([0-9A-Fa-f:.%\w-]+)\]|([^\s:[\]]*)):(\d{1,5})$/.exec(addr.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65_535) return undefined;
  const host = match[1] ?? match[2] ?? '';
  return { host: host || ALL_INTERFACES, port };
}
