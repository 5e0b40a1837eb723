/**
 * The request target (RFC 9112 §3.2), read once per request before anything else looks at it.
 * Routing, the access rules, the rate limits, the token server, the administrative endpoints and
 * the access log all read the `RequestTarget` made here, so no layer can see a different path
 * from the one another layer decided on.
 *
 * Accepted: origin-form (`/v2/a/manifests/1?x=y`) and absolute-form (`http://host/v2/…`, which
 * HTTP/1.1 servers must accept). Percent-encoding is decoded exactly once, segment by segment
 * (RFC 3986 §2.4). Refused with 400, because they would let one path be spelled several ways or
 * reach outside what its segments say:
 *   - an encoded `/` or `\`, NUL or any other control character, and malformed `%` escapes;
 *   - a raw `\`, or bytes that do not decode as UTF-8;
 *   - dot segments (`.`, `..`, also when encoded) and empty segments (`//`); one trailing slash
 *     is kept, as the routes tell `/v2/` and `…/blobs/uploads/` by it;
 *   - asterisk-form, authority-form, fragments, targets that do not start with `/`, and
 *     absolute-form with another scheme than http(s) or an authority that is not host[:port].
 * Nothing in the registry's grammar (names, tags, digests, upload ids) needs any of these.
 */

export class TargetError extends Error {
  constructor(
    message: string,
    /** The target as received, for the error's detail. */
    readonly target: string,
  ) {
    super(message);
    this.name = 'TargetError';
  }
}

export interface RequestTarget {
  /** The request-target exactly as received. */
  readonly raw: string;
  /** The authority of an absolute-form target (`host:port`), which then stands in for Host. */
  readonly authority?: string;
  /** The decoded path, always starting with `/`; one trailing `/` is kept when it was sent. */
  readonly path: string;
  /** The query string as received, without its `?` ("" when there is none). */
  readonly rawQuery: string;
  /** The decoded query parameters. */
  readonly query: URLSearchParams;
}

const ABSOLUTE_FORM = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)(.*)$/;
/** `host[:port]` of an absolute-form target: a name or IPv4 address, or a bracketed IPv6 address. */
const AUTHORITY = /^(?:[a-zA-Z0-9.-]+|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$/;
const HEX = /^[0-9a-fA-F]{2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes that must never come out of decoding: `/`, `\` and the control characters. */
function refusedByte(byte: number): string | undefined {
  if (byte === 0x2f) return 'an encoded "/"';
  if (byte === 0x5c) return 'an encoded "\\"';
  if (byte < 0x20 || byte === 0x7f) return 'an encoded control character';
  return undefined;
}

/** Percent-decodes one path segment, once. */
function decodeSegment(segment: string, raw: string): string {
  if (segment.includes('\\')) throw new TargetError('the path contains "\\"', raw);
  if (!segment.includes('%')) return segment;
  const bytes: number[] = [];
  for (let index = 0; index < segment.length; index += 1) {
    const char = segment.charCodeAt(index);
    if (char !== 0x25) {
      // Node's parser lets only visible ASCII through in a request line, so this is one byte.
      bytes.push(char);
      continue;
    }
    const hex = segment.slice(index + 1, index + 3);
    if (!HEX.test(hex)) throw new TargetError('the path contains a "%" that is not followed by two hex digits', raw);
    const byte = Number.parseInt(hex, 16);
    const refused = refusedByte(byte);
    if (refused) throw new TargetError(`the path contains ${refused} (%${hex})`, raw);
    bytes.push(byte);
    index += 2;
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    throw new TargetError('the path does not decode as UTF-8', raw);
  }
}

/** Parses a request-target as Node received it (`request.url`). Throws TargetError. */
export function parseRequestTarget(raw: string): RequestTarget {
  let rest = raw;
  let authority: string | undefined;
  const absolute = ABSOLUTE_FORM.exec(raw);
  if (absolute) {
    const scheme = absolute[1]!.toLowerCase();
    if (scheme !== 'http' && scheme !== 'https')
      throw new TargetError(`absolute-form target with scheme "${absolute[1]}"`, raw);
    authority = absolute[2]!;
    if (!AUTHORITY.test(authority)) throw new TargetError(`absolute-form target with authority "${authority}"`, raw);
    rest = absolute[3] || '/';
  }
  if (!rest.startsWith('/'))
    throw new TargetError('the request target must be a path starting with "/" (or an absolute http URL)', raw);
  if (rest.includes('#')) throw new TargetError('the request target contains a fragment ("#")', raw);
  const queryStart = rest.indexOf('?');
  const rawPath = queryStart === -1 ? rest : rest.slice(0, queryStart);
  const rawQuery = queryStart === -1 ? '' : rest.slice(queryStart + 1);

  // rawPath starts with "/", so the first piece is always "" and stands for the root.
  const pieces = rawPath.split('/').slice(1);
  const segments: string[] = [];
  for (const [index, piece] of pieces.entries()) {
    const segment = decodeSegment(piece, raw);
    const last = index === pieces.length - 1;
    if (segment === '' && !last) throw new TargetError('the path contains an empty segment ("//")', raw);
    if (segment === '.' || segment === '..')
      throw new TargetError(`the path contains a dot segment ("${segment}")`, raw);
    segments.push(segment);
  }
  return { raw, authority, path: `/${segments.join('/')}`, rawQuery, query: new URLSearchParams(rawQuery) };
}
