/**
 * For the web UI's browser tests: Debian's Chromium driven by playwright-core (it cannot download
 * a browser of its own here), the UI bundle built fresh from src/ui/app, and a registry folder
 * seeded with many repositories, written straight in Distribution's layout (src/storage/paths.ts
 * names every file; pushing ten thousand repositories over HTTP would take minutes and test
 * nothing more).
 */
import { chromium, type Browser } from 'playwright-core';
import { parseDigest } from '../../src/api/reference.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as paths from '../../src/storage/paths.js';
import { buildUi } from '../../src/ui/build.js';
import { makeIndex } from './manifests.js';
import { findTool } from './tools.js';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export const chromiumTool = () => findTool('chromium', 'chromium', [CHROMIUM_PATH, '--version']);

export async function launchChromium(): Promise<Browser> {
  await buildUi();
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    // Without the network flags Chromium keeps calling hosts this machine cannot reach.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Writes `count` repositories `<prefix>-00000`… each with tag `latest` on one empty index. */
export function seedRepositories(root: string, prefix: string, count: number): void {
  const index = makeIndex([]);
  const parsed = parseDigest(index.digest);
  if (!parsed.ok) throw new Error(parsed.reason);
  const digest = parsed.digest;
  const write = (path: string, content: Buffer | string) => {
    const file = join(root, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  };
  write(paths.blobData(digest), index.bytes);
  for (let number = 0; number < count; number += 1) {
    const name = `${prefix}-${String(number).padStart(5, '0')}`;
    write(paths.revisionLink(name, digest), digest.value);
    write(paths.tagIndexLink(name, 'latest', digest), digest.value);
    write(paths.tagCurrentLink(name, 'latest'), digest.value);
  }
}
