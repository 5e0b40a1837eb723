/** Where the web UI's built script and style sheet are: `dist/ui/assets` of this package. */
import { fileURLToPath } from 'node:url';

/** This file is src/ui/assets.ts or dist/ui/assets.js: the package root is two folders up. */
export const UI_OUTDIR = fileURLToPath(new URL('../../dist/ui/assets', import.meta.url));
