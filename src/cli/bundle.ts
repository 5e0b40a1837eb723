/**
 * Bundles the `berth` command (src/cli/main.ts and everything it imports) with esbuild into
 * `dist/cli/main.js`, replacing the file tsc wrote, plus the chunks it loads on demand in
 * `dist/chunks/`: one chunk per command and per part loaded on use, so each command still loads
 * only what it runs (src/cli/command-table.ts). A start then reads and compiles a few files
 * instead of some 800 modules, and keeps their source without comments, whitespace or dead code:
 * `berth serve` starts sooner and holds less memory (docs/performance.md). Packages that only
 * some configurations load, when they first use them (the cloud SDKs, OpenTelemetry, Redis,
 * tokens, bcrypt, CloudEvents), stay as they are in node_modules and are imported from there, so
 * they run exactly as the tests run them. `npm run build` runs this after tsc.
 *
 * Every file lands two folders below the repository root, as src/cli/main.ts and the other
 * sources are, so paths built from `import.meta.url` (package.json, dist/ui/assets, the packages
 * required with createRequire) resolve to the same places.
 */
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The repository's root: this file is src/cli/bundle.ts or dist/cli/bundle.js. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Loaded on use by the configurations or commands that need them: left in node_modules. */
const LOADED_ON_USE = [
  '@aws-sdk/*',
  '@smithy/*',
  '@azure/*',
  '@opentelemetry/*',
  'ioredis',
  'jose',
  'bcrypt',
  'bcryptjs',
  'cloudevents',
  'rate-limiter-flexible',
  'cli-progress',
];

export async function bundleCli(outdir = `${ROOT}dist`): Promise<void> {
  rmSync(`${outdir}/chunks`, { recursive: true, force: true });
  await build({
    entryPoints: { 'cli/main': `${ROOT}src/cli/main.ts` },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: ['node20'],
    outdir,
    chunkNames: 'chunks/[name]-[hash]',
    // Whitespace and syntax only: names stay, so stack traces in the log still read.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    external: LOADED_ON_USE,
    // The CommonJS packages in the bundle (fastify, pino, yaml, commander) call require() for
    // Node's own modules; an ES module has no require of its own.
    banner: {
      js: "import { createRequire as __berthRequire } from 'node:module'; const require = __berthRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await bundleCli();
