#!/usr/bin/env node
// The `phoenix` command: runs the compiled CLI (built by `make` / `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('phoenix: not built yet. Run `make` (or `npm ci && npm run build`) in the project directory.\n');
  process.exit(1);
}
await import(main.href);
