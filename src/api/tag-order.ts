/**
 * Natural, semver-aware order of tags, as a person expects a tag list sorted: `v1.9` before
 * `v1.10`, `2` before `10`, and a pre-release before its release (`1.0.0-rc.1` before `1.0.0`).
 * Runs of digits compare by value; everything else compares as text.
 */

const PIECES = /\d+|\D+/g;

function pieces(tag: string): string[] {
  return tag.match(PIECES) ?? [];
}

export function compareTagsNaturally(a: string, b: string): number {
  const left = pieces(a);
  const right = pieces(b);
  const shared = Math.min(left.length, right.length);
  for (let index = 0; index < shared; index += 1) {
    const x = left[index]!;
    const y = right[index]!;
    if (x === y) continue;
    const numeric = /^\d/.test(x) && /^\d/.test(y);
    if (numeric) {
      const difference = Number(x) - Number(y);
      if (difference !== 0) return difference < 0 ? -1 : 1;
      // Same value, other spelling (`01` and `1`): the shorter first, so the order is total.
      return x.length - y.length;
    }
    // `1.0.0-rc.1` against `1.0.0`: handled below by length; here text against text.
    return x < y ? -1 : 1;
  }
  if (left.length === right.length) return 0;
  // One is the other plus more: a pre-release suffix (`-…`) sorts before the plain version.
  const longer = left.length > right.length ? left : right;
  const suffixIsPreRelease = longer[shared]?.startsWith('-') ?? false;
  const leftLonger = left.length > right.length;
  if (suffixIsPreRelease) return leftLonger ? -1 : 1;
  return leftLonger ? 1 : -1;
}
