// SPDX-License-Identifier: MIT
// native/index.ts — the one typed door to the C++ addon (build/Release/phoenix.node).
//
// Nothing else in the project loads the .node file. Every export is declared here with real
// types; the rest of the code imports from this module only.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The raw shape of the addon's exports. Extended as parts are added. */
export interface NativeAddon {
  abiVersion: number;
}

function findRoot(): string {
  // Works both from src/native (tests run .ts directly) and dist/src/native (compiled).
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'binding.gyp'))) return dir;
    dir = resolve(dir, '..');
  }
  throw new Error('phoenix: cannot find the project root (package.json + binding.gyp)');
}

function load(): NativeAddon {
  const root = findRoot();
  const path = process.env.PHOENIX_ADDON ?? join(root, 'build', 'Release', 'phoenix.node');
  if (!existsSync(path)) {
    const err = new Error(
      `phoenix: native addon not found at ${path}. Build it with \`npm ci\` (or \`make\`) in ${root}.`,
    ) as NodeJS.ErrnoException;
    err.code = 'ERR_PHOENIX_ADDON_MISSING';
    throw err;
  }
  const require = createRequire(import.meta.url);
  return require(path) as NativeAddon;
}

export const native: NativeAddon = load();
