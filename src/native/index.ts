// SPDX-License-Identifier: MIT
// native/index.ts — the one typed door to the C++ addon (build/Release/phoenix.node).
//
// Nothing else in the project loads the .node file. Every export is declared here with real
// types; the rest of the code imports from this module only. Importing never throws: if the
// addon cannot be loaded, `native` throws the explained load error on first use and
// capabilityReport() lists it. PHOENIX_ADDON points the loader at another build (the sanitizer
// build of scripts/asan.sh). The C++ side lives in addon/ (one file per concern: shm, eventfd,
// process, poll, errors); native errors arrive shaped like Node's (code, errno, syscall, path).
import { createRequire } from 'node:module';
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A mapping as the addon returns it (addon/shm.cc). */
export interface NativeMapping {
  readonly buffer: ArrayBuffer;
  readonly size: number;
  readonly hugepages: boolean;
  readonly closed: boolean;
  close(): void;
}
/** An eventfd as the addon returns it (addon/eventfd.cc). */
export interface NativeEventFd {
  readonly fd: number; // -1 once closed
  readonly watching: boolean;
  signal(): void;
  drain(): number;
  watch(cb: (count: number) => void): void;
  unwatch(): void;
  ref(): void;
  unref(): void;
  close(): void;
}
/** A pidfd exit watch as the addon returns it (addon/process.cc). */
export interface NativeExitWatcher {
  readonly active: boolean; // false once fired or closed
  close(): void;
  ref(): void;
  unref(): void;
}

/** The raw shape of the addon's exports. Extended as parts are added. */
export interface NativeAddon {
  abiVersion: number;
  pageSize: number;
  mapFlags: { create: number; exclusive: number; hugepages: number; readonly: number };
  /** size 0 = the file's size; flags from mapFlags. */
  Mapping: new (path: string, size: number, flags: number) => NativeMapping;
  /** No argument: eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC); with an fd: adopt it if it is an eventfd. */
  EventFd: new (fd?: number) => NativeEventFd;
  ExitWatcher: new (pid: number, cb: () => void) => NativeExitWatcher;
  pidfdGetFd(pid: number, targetFd: number): number;
  closeFd(fd: number): void;
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
  try {
    return require(path) as NativeAddon;
  } catch (cause) {
    const err = new Error(
      `phoenix: cannot load the native addon at ${path} (${(cause as Error).message}). ` +
        `Rebuild it for this Node (${process.version}): npx node-gyp rebuild`,
      { cause },
    ) as NodeJS.ErrnoException;
    err.code = 'ERR_PHOENIX_ADDON_LOAD';
    throw err;
  }
}

let loadError: Error | undefined;
function loadOrDefer(): NativeAddon {
  try {
    return load();
  } catch (err) {
    loadError = err as Error;
    const fail = (): never => {
      throw loadError;
    };
    return new Proxy({} as NativeAddon, { get: fail, has: fail, ownKeys: fail });
  }
}

export const native: NativeAddon = loadOrDefer();

function argError(code: string, message: string, range = false): Error {
  const err = (range ? new RangeError(message) : new TypeError(message)) as NodeJS.ErrnoException;
  err.code = code;
  return err;
}

function checkInt(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number') {
    throw argError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be of type number. Received ${typeof value}`);
  }
  if (!Number.isSafeInteger(value) || value < min) {
    throw argError('ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be an integer >= ${min}. Received ${value}`, true);
  }
  return value;
}

// ---- shared memory -------------------------------------------------------------------------

export interface SharedRegion {
  readonly buffer: ArrayBuffer; // external ArrayBuffer over the mapping (MAP_SHARED)
  readonly size: number; // bytes, page-rounded
  readonly path: string;
  readonly hugepages: boolean;
  readonly closed: boolean;
  /** Detaches the ArrayBuffer (views become length 0 / DataView throws), then munmap; idempotent. */
  close(): void;
}

export interface MapSharedOptions {
  /** Required with create; otherwise defaults to the file's size (and if given, the file must be at least that big). */
  size?: number;
  /** O_CREAT, then ftruncate(size) if the file is smaller (an existing, larger file is never shrunk). */
  create?: boolean;
  /** With create: O_EXCL. */
  exclusive?: boolean;
  /** The file must live on hugetlbfs (e.g. /dev/hugepages); size rounded to its page size (2 MiB). */
  hugepages?: boolean;
  /** PROT_READ only. Writing through a view of a read-only region kills the process (SIGSEGV). */
  readonly?: boolean;
}

class Region implements SharedRegion {
  readonly buffer: ArrayBuffer;
  readonly size: number;
  readonly hugepages: boolean;
  constructor(
    readonly path: string,
    private readonly mapping: NativeMapping,
  ) {
    this.buffer = mapping.buffer;
    this.size = mapping.size;
    this.hugepages = mapping.hugepages;
  }
  get closed(): boolean {
    return this.mapping.closed;
  }
  close(): void {
    this.mapping.close();
  }
}

/** Map a file (normally under /dev/shm) shared between processes. Page-aligned. */
export function mapShared(path: string, opts: MapSharedOptions = {}): SharedRegion {
  if (typeof path !== 'string' || path === '') {
    throw argError('ERR_INVALID_ARG_TYPE', 'The "path" argument must be a non-empty string');
  }
  if (opts.create && opts.size === undefined) {
    throw argError('ERR_INVALID_ARG_VALUE', `mapShared(${path}): \`size\` is required with \`create\``);
  }
  if (opts.exclusive && !opts.create) {
    throw argError('ERR_INVALID_ARG_VALUE', `mapShared(${path}): \`exclusive\` needs \`create\``);
  }
  const size = opts.size === undefined ? 0 : checkInt('size', opts.size, 1);
  const f = native.mapFlags;
  const flags =
    (opts.create ? f.create : 0) |
    (opts.exclusive ? f.exclusive : 0) |
    (opts.hugepages ? f.hugepages : 0) |
    (opts.readonly ? f.readonly : 0);
  return new Region(path, new native.Mapping(path, size, flags));
}

// ---- eventfd -------------------------------------------------------------------------------

export class EventFd {
  private constructor(private readonly handle: NativeEventFd) {}

  /** eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC). */
  static create(): EventFd {
    return new EventFd(new native.EventFd());
  }

  /**
   * Adopt an fd (e.g. one received from another process). Throws code 'EINVAL' unless
   * /proc/self/fd/N reads 'anon_inode:[eventfd]', 'EBADF' if it is not open. The EventFd then
   * owns the fd (close() closes it); it is made O_NONBLOCK and close-on-exec. Do not adopt an
   * fd another EventFd owns (both would close it): duplicate it first, pidfdGetFd(process.pid, fd).
   */
  static fromFd(fd: number): EventFd {
    return new EventFd(new native.EventFd(checkInt('fd', fd, 0)));
  }

  /** The fd, or -1 once closed. */
  get fd(): number {
    return this.handle.fd;
  }
  /** Whether a watch is active. */
  get watching(): boolean {
    return this.handle.watching;
  }
  /** Add 1 to the counter; a saturated counter (EAGAIN) is not an error. */
  signal(): void {
    this.handle.signal();
  }
  /** Non-blocking read: the counter value (resetting it to 0), or 0 if nothing is pending. */
  drain(): number {
    return this.handle.drain();
  }
  /**
   * Poll the fd on Node's loop; when readable, the native side drains the counter and calls
   * cb(count) on the JS thread. Never blocks the loop. A second watch() replaces cb. An exception
   * thrown by cb goes to process 'uncaughtException'.
   */
  watch(cb: (count: number) => void): void {
    if (typeof cb !== 'function') throw argError('ERR_INVALID_ARG_TYPE', 'The "cb" argument must be of type function');
    this.handle.watch(cb);
  }
  unwatch(): void {
    this.handle.unwatch();
  }
  /** An active watch keeps the loop alive (the default). */
  ref(): void {
    this.handle.ref();
  }
  /** An active watch does not keep the loop alive. */
  unref(): void {
    this.handle.unref();
  }
  /** unwatch + close(fd); idempotent. */
  close(): void {
    this.handle.close();
  }
}

// ---- processes -----------------------------------------------------------------------------

export interface ExitWatch {
  close(): void;
  unref(): void;
  ref(): void;
  /** True until cb has fired or close() was called. */
  readonly active: boolean;
}

/** Child/any-process exit notification through pidfd_open + uv_poll; cb fires once, promptly, when the process exits (no polling, no SIGCHLD). close() stops watching. */
export function watchExit(pid: number, cb: () => void): ExitWatch {
  checkInt('pid', pid, 1);
  if (typeof cb !== 'function') throw argError('ERR_INVALID_ARG_TYPE', 'The "cb" argument must be of type function');
  return new native.ExitWatcher(pid, cb);
}

/** pidfd_getfd(2): duplicate file descriptor `targetFd` of process `pid` into this process; returns the new fd (O_CLOEXEC). */
export function pidfdGetFd(pid: number, targetFd: number): number {
  return native.pidfdGetFd(checkInt('pid', pid, 1), checkInt('targetFd', targetFd, 0));
}

/** close(2) a raw fd. */
export function closeFd(fd: number): void {
  native.closeFd(checkInt('fd', fd, 0));
}

// ---- capabilities --------------------------------------------------------------------------

const HUGEPAGES_FIX =
  'mount hugetlbfs on /dev/hugepages and reserve pages: mount -t hugetlbfs nodev /dev/hugepages && echo 64 > /proc/sys/vm/nr_hugepages';

function probe(what: string, fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return `${what}: ${(err as Error).message}`;
  }
}

function hugepagesProblem(): string | undefined {
  let mounts = '';
  try {
    mounts = readFileSync('/proc/mounts', 'utf8');
  } catch {
    return 'optional: hugepages: cannot read /proc/mounts';
  }
  if (!/^\S+ \/dev\/hugepages hugetlbfs /m.test(mounts)) return `optional: hugepages: /dev/hugepages is not a hugetlbfs mount; ${HUGEPAGES_FIX}`;
  let free = 0;
  try {
    free = Number(readFileSync('/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages', 'utf8').trim());
  } catch {
    return 'optional: hugepages: this kernel has no 2 MiB huge pages';
  }
  return free > 0 ? undefined : `optional: hugepages: no free 2 MiB pages; reserve some: echo 64 > /proc/sys/vm/nr_hugepages`;
}

/**
 * Explain what is missing when the addon or a capability cannot be used: one message listing
 * each cause and its fix. `ok` is false when a required capability is missing; problems that
 * start with "optional:" (hugepages) do not clear it.
 */
export function capabilityReport(): { ok: boolean; problems: string[]; message: string } {
  const problems: string[] = [];
  const add = (p: string | undefined): void => {
    if (p !== undefined) problems.push(p);
  };
  if (loadError !== undefined) {
    add(`addon: ${loadError.message}`);
  } else {
    add(
      probe('/dev/shm', () => {
        const path = `/dev/shm/phoenix-probe-${process.pid}-${Date.now()}`;
        try {
          mapShared(path, { create: true, exclusive: true, size: 4096 }).close();
        } finally {
          try {
            unlinkSync(path);
          } catch {
            // not created
          }
        }
      }),
    );
    add(
      probe('pidfd', () => {
        watchExit(process.pid, () => undefined).close(); // pidfd_open, Linux 5.3
        const ev = EventFd.create();
        try {
          closeFd(pidfdGetFd(process.pid, ev.fd)); // pidfd_getfd, Linux 5.6
        } finally {
          ev.close();
        }
      }),
    );
  }
  add(hugepagesProblem());
  const ok = problems.every((p) => p.startsWith('optional:'));
  const message =
    problems.length === 0
      ? 'phoenix: all capabilities available'
      : `phoenix: ${ok ? 'optional capabilities missing' : 'cannot run'}:\n${problems.map((p) => `  - ${p}`).join('\n')}`;
  return { ok, problems, message };
}
