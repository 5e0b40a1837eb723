/**
 * Builds the web UI's browser bundle (src/ui/app, Preact) with esbuild into `dist/ui/`: one
 * script and one style sheet, minified, with nothing loaded from anywhere else at run time.
 * `npm run build` runs it (node dist/ui/build.js); the UI tests call `buildUi` directly.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { UI_OUTDIR } from './assets.js';

/** The repository's root: this file is src/ui/build.ts or dist/ui/build.js. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export async function buildUi(outdir = UI_OUTDIR): Promise<void> {
  await build({
    entryPoints: { app: `${ROOT}src/ui/app/main.tsx` },
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir,
    logLevel: 'warning',
    legalComments: 'none',
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildUi();
