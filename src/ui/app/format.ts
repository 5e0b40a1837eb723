/** How figures read on the page. */

export function bytes(value: number | undefined): string {
  if (value === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? size : size.toFixed(size < 10 ? 2 : 1)} ${units[unit]}`;
}

export function date(value: string | undefined): string {
  if (!value) return '—';
  const parsed = new Date(value);
  return Number.isNaN(parsed.getTime())
    ? value
    : parsed
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC');
}

export function shortDigest(digest: string | undefined): string {
  if (!digest) return '—';
  const [algorithm, hex] = digest.split(':');
  return `${algorithm}:${(hex ?? '').slice(0, 12)}`;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export function platform(value: Platform): string {
  return `${value.os}/${value.architecture}${value.variant ? `/${value.variant}` : ''}`;
}

/** Encodes a repository name for a URL path: its slashes stay slashes. */
export function namePath(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}
