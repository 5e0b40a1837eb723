/**
 * `Link: <url>; rel="next"` pagination (RFC 8288), as registries use for the catalog, tag lists
 * and referrers. The target may be absolute or relative to the URL that answered.
 */

/** The next page's URL from a Link header, or undefined on the last page. */
export function nextPage(linkHeader: string | undefined, current: URL): URL | undefined {
  if (!linkHeader) return undefined;
  for (const part of splitLinks(linkHeader)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (!match) continue;
    const params = match[2]!;
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^;\s]+))/i.exec(params);
    const relations = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
    if (relations.includes('next')) return new URL(match[1]!, current);
  }
  return undefined;
}

/** Splits on commas that are outside `<…>` and quotes. */
function splitLinks(header: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let index = 0; index < header.length; index++) {
    const char = header[index];
    if (char === '"') quoted = !quoted;
    else if (!quoted && char === '<') depth++;
    else if (!quoted && char === '>') depth = Math.max(0, depth - 1);
    else if (!quoted && depth === 0 && char === ',') {
      parts.push(header.slice(start, index));
      start = index + 1;
    }
  }
  parts.push(header.slice(start));
  return parts;
}
