// SPDX-License-Identifier: MIT
// main.ts — the `phoenix` command: dispatches to each subcommand; every one has --help.
import { runServe, SERVE_HELP } from './serve.js';

const HELP = `phoenix — a user-space Xen network backend that survives its own driver's faults

Usage: phoenix <command> [options]      (phoenix <command> --help for each)

Commands:
  serve       run the netback service (vifs discovered in xenstore)
  xenstored   run our xenstore server (shm transport, machines without Xen)
  netfront    run a test guest that sends and checks traffic through the backend
  bench       benchmarks (bench vif2vif --size 64|1500; bench path --json; bench all)
  demo        two test guests exchanging traffic through the backend, with live counters
  inject      cause a fault in a running service (driver-crash, driver-hang, backend-crash, ...)
`;

type Cmd = (argv: string[]) => Promise<void>;

const commands: Record<string, () => Promise<Cmd>> = {
  serve: async () => runServe,
  xenstored: async () => (await import('../transport/xenstore/main.js')).runXenstored,
  netfront: async () => (await import('../../test/guest/main.js')).runNetfront,
  bench: async () => (await import('./bench.js')).runBench,
  demo: async () => (await import('./demo.js')).runDemo,
  inject: async () => (await import('./inject.js')).runInject,
};

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const load = commands[cmd];
  if (load === undefined) {
    process.stderr.write(`phoenix: unknown command "${cmd}"\n\n${HELP}`);
    process.exitCode = 2;
    return;
  }
  await (await load())(rest);
}

void SERVE_HELP;
main(process.argv.slice(2)).catch((e: unknown) => {
  const err = e as Error & { code?: string };
  process.stderr.write(`phoenix: ${err.message}${err.code !== undefined ? ` [${err.code}]` : ''}\n`);
  process.exitCode = 1;
});
