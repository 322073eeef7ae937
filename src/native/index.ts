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

/** /dev/xen/gntdev as the addon returns it (addon/gntdev.cc). */
export interface NativeGntDev {
  readonly fd: number; // -1 once closed
  /** Maps refs.length pages granted by domid; an external ArrayBuffer unmapped by unmap() or its finaliser. */
  map(domid: number, refs: Uint32Array, writable: boolean): ArrayBuffer;
  /** Detach + munmap + IOCTL_GNTDEV_UNMAP_GRANT_REF; false if the buffer is not a live mapping of ours. */
  unmap(buffer: ArrayBuffer): boolean;
  /** One IOCTL_GNTDEV_GRANT_COPY over `count` 24-byte segments (see transport/xen/copy.ts); 0 or an errno. */
  copy(segs: Uint8Array, count: number, buffers: ArrayBuffer[]): number;
  close(): void;
}
/** /dev/xen/evtchn as the addon returns it (addon/evtchn.cc). */
export interface NativeEvtChn {
  readonly fd: number; // -1 once closed
  restrictDomid(domid: number): number;
  bindInterdomain(domid: number, remotePort: number): number;
  unbind(port: number): number;
  notify(port: number): number;
  unmask(port: number): void;
  watch(cb: (ports: Uint32Array, overflow: boolean) => void): void;
  unwatch(): void;
  ref(): void;
  unref(): void;
  close(): void;
}

/** A TAP interface as the addon returns it (addon/tun.cc). */
export interface NativeTap {
  readonly fd: number; // -1 once closed
  readonly name: string;
  /** One frame into buf[off, off+max): its length, or -errno (-EAGAIN: none queued). */
  read(buf: Uint8Array, off: number, max: number): number;
  /** One frame from buf[off, off+len): 0, or an errno (EAGAIN: queue full, EIO: link down). */
  write(buf: Uint8Array, off: number, len: number): number;
  /** cb() on Node's loop while frames are waiting (level triggered). */
  watch(cb: () => void): void;
  unwatch(): void;
  close(): void;
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
  // xen (addon/gntdev.cc, addon/evtchn.cc)
  GntDev: new (path?: string) => NativeGntDev;
  EvtChn: new (path?: string) => NativeEvtChn;
  Tap: new (name?: string, path?: string) => NativeTap;
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

// ---- xen -----------------------------------------------------------------------------------
// /dev/xen/gntdev and /dev/xen/evtchn (reference/xen-netif.md §2.7). Opening either on a machine
// without Xen throws ENOENT with the fix ("run in a Xen dom0/driver domain; modprobe ...").

export const XEN_GNTDEV_PATH = '/dev/xen/gntdev';
export const XEN_EVTCHN_PATH = '/dev/xen/evtchn';
/** Highest domid a real domain can have (DOMID_FIRST_RESERVED - 1). */
export const XEN_MAX_DOMID = 0x7fef;

function checkPath(path: unknown): string {
  if (typeof path !== 'string' || path === '') throw argError('ERR_INVALID_ARG_TYPE', 'The "path" argument must be a non-empty string');
  return path;
}

function checkDomid(domid: unknown): number {
  const d = checkInt('domid', domid, 0);
  if (d > XEN_MAX_DOMID) throw argError('ERR_OUT_OF_RANGE', `The value of "domid" is out of range. It must be <= ${XEN_MAX_DOMID}. Received ${d}`, true);
  return d;
}

function checkPort(port: unknown): number {
  const p = checkInt('port', port, 1);
  if (p > 0xfffffffe) throw argError('ERR_OUT_OF_RANGE', `The value of "port" is out of range. Received ${p}`, true);
  return p;
}

/** Open the grant device (default /dev/xen/gntdev). */
export function openGntDev(path: string = XEN_GNTDEV_PATH): NativeGntDev {
  return new native.GntDev(checkPath(path));
}

/** Map `refs` (grant references of domain `domid`) as one contiguous run of 4 KiB pages. */
export function mapGrants(dev: NativeGntDev, domid: number, refs: readonly number[], writable: boolean): ArrayBuffer {
  checkDomid(domid);
  if (!Array.isArray(refs) || refs.length === 0 || refs.length > 1024) throw argError('ERR_OUT_OF_RANGE', 'mapGrants: between 1 and 1024 grant refs', true);
  const arr = new Uint32Array(refs.length);
  refs.forEach((r, i) => {
    if (!Number.isInteger(r) || r < 0 || r > 0xffffffff) throw argError('ERR_OUT_OF_RANGE', `mapGrants: bad grant ref ${String(r)}`, true);
    arr[i] = r;
  });
  return dev.map(domid, arr, writable === true);
}

/** An event-channel device fd, optionally restricted to binding ports of one domain. */
export function openEvtChn(opts: { path?: string; restrictDomid?: number } = {}): NativeEvtChn {
  const dev = new native.EvtChn(checkPath(opts.path ?? XEN_EVTCHN_PATH));
  if (opts.restrictDomid !== undefined) {
    try {
      dev.restrictDomid(checkDomid(opts.restrictDomid));
    } catch (e) {
      dev.close();
      throw e;
    }
  }
  return dev;
}

/** Validated bind: returns the local port. */
export function bindInterdomain(dev: NativeEvtChn, domid: number, remotePort: number): number {
  return dev.bindInterdomain(checkDomid(domid), checkPort(remotePort));
}

/** Open (or create) TAP interface `name` ('' lets the kernel pick tapN). Needs CAP_NET_ADMIN and the tun module. */
export function openTap(name = '', path = '/dev/net/tun'): NativeTap {
  if (typeof name !== 'string' || name.length > 15) throw argError('ERR_INVALID_ARG_VALUE', `openTap: bad interface name ${JSON.stringify(name)}`);
  return new native.Tap(name, checkPath(path));
}

// ---- af_xdp --------------------------------------------------------------------------------
// An AF_XDP socket over the packet pool (addon/xsk.cc) and the XDP program that steers its
// queue to it (addon/xdp_prog.cc). The rings arrive as ArrayBuffers over their kernel mappings;
// src/xsk/ drives them with plain loads and stores. Native calls on the data path: kick() once
// per batch, watch() to sleep. Errors carry code/errno/syscall and the fix (xskCapability()
// lists what is missing before anything is tried).

/** One XSK ring's mapping: byte offsets of the producer, consumer and flags words and of the descriptors. */
export interface XskRingMap {
  readonly buffer: ArrayBuffer;
  readonly size: number;
  readonly producer: number;
  readonly consumer: number;
  readonly flags: number;
  readonly desc: number;
}
export interface NativeXskSocket {
  readonly fd: number; // -1 once closed
  readonly ifindex: number;
  readonly queue: number;
  readonly zeroCopy: boolean;
  readonly xdpMode: 'native' | 'generic' | 'none';
  readonly xdpFallback: string;
  readonly progId: number;
  readonly txBudget: number;
  readonly closed: boolean;
  readonly watching: boolean;
  readonly rings: { fill: XskRingMap; completion: XskRingMap; rx?: XskRingMap; tx?: XskRingMap };
  kick(what: number): number;
  stats(out: Float64Array): Float64Array;
  watch(events: number, cb: (events: number) => void): void;
  unwatch(): void;
  ref(): void;
  unref(): void;
  close(): void;
}
interface NativeXskOptions {
  ifname: string;
  umem: ArrayBuffer;
  netns?: string;
  queue: number;
  frames: number;
  frameSize: number;
  headroom: number;
  fillSize: number;
  completionSize: number;
  rxSize: number;
  txSize: number;
  zeroCopy: number;
  xdp: number;
  txBudget: number;
}
// Declaration merging: the af_xdp exports join the addon's shape declared above.
export interface NativeAddon {
  XskSocket: new (opts: NativeXskOptions) => NativeXskSocket;
  xsk: {
    libbpf: boolean;
    buildHint: string;
    xdpModes: Record<XdpMode, number>;
    zeroCopyModes: Record<ZeroCopyMode, number>;
    needWakeup: number;
  };
}

/** auto: native (driver) XDP, generic (SKB) if the driver has none; none: attach no program (TX-only, or steered by someone else). */
export type XdpMode = 'auto' | 'native' | 'generic' | 'none';
/** auto: the kernel tries zero-copy and falls back to copy; force: zero-copy or fail (EOPNOTSUPP on veth); never: copy. */
export type ZeroCopyMode = 'auto' | 'force' | 'never';

export interface XskOptions {
  ifname: string;
  /** Queue (channel) index on the interface; default 0. */
  queue?: number;
  /** The UMEM: the packet pool's ArrayBuffer from mapShared (page-aligned); frame i at i*frameSize. */
  umem: ArrayBuffer;
  /** Frames registered (default: as many as the buffer holds). */
  frames?: number;
  /** Chunk size: 2048 (default) or 4096. */
  frameSize?: number;
  /** UMEM headroom before each received frame's XDP headroom; default 0. */
  headroom?: number;
  /** Powers of two. Fill ≥ 8192 here (reference/performance.md: smaller fill rings drop frames when the VM loses CPU). */
  fillSize?: number;
  completionSize?: number;
  /** 0 = no RX ring (TX-only socket, then xdp must be 'none'). Default 2048. */
  rxSize?: number;
  /** 0 = no TX ring. Default 2048. */
  txSize?: number;
  zeroCopy?: ZeroCopyMode;
  xdp?: XdpMode;
  /** A network namespace name (/run/netns/NAME) or path: the interface is looked up and bound there. */
  netns?: string;
  /** Descriptors one copy-mode kick may send (Linux ≥ 6.17; default: the TX ring size). */
  txBudget?: number;
}

/** kick() bits: transmit what the TX ring holds (sendto); wake RX / fill processing (recvfrom). */
export const XSK_KICK_TX = 1;
export const XSK_KICK_RX = 2;
/** watch() events (libuv's): readable = the RX ring has descriptors; writable = the TX ring has room. */
export const XSK_POLL_IN = 1;
export const XSK_POLL_OUT = 2;
/** The flags word's XDP_RING_NEED_WAKEUP bit. */
export const XSK_RING_NEED_WAKEUP = 1;
/** Minimum fill ring on this kind of machine (reference/performance.md). */
export const XSK_MIN_FILL = 8192;
/** Slots of the stats() array: XDP_STATISTICS in kernel order, then kicks that met a device drop (EBUSY). */
export const XSK_STAT_NAMES = [
  'rx_dropped',
  'rx_invalid_descs',
  'tx_invalid_descs',
  'rx_ring_full',
  'rx_fill_ring_empty_descs',
  'tx_ring_empty_descs',
  'tx_busy_drops',
] as const;
export type XskStatName = (typeof XSK_STAT_NAMES)[number];

function powerOfTwo(name: string, v: number | undefined, def: number, allowZero: boolean): number {
  if (v === undefined) return def;
  const n = checkInt(name, v, allowZero ? 0 : 1);
  if (n !== 0 && (n & (n - 1)) !== 0) throw argError('ERR_OUT_OF_RANGE', `The value of "${name}" must be a power of two. Received ${n}`, true);
  return n;
}

/** Open an AF_XDP socket with `umem` as its UMEM and (unless xdp 'none') steer the queue to it. */
export function openXsk(opts: XskOptions): NativeXskSocket {
  if (typeof opts !== 'object' || opts === null) throw argError('ERR_INVALID_ARG_TYPE', 'The "opts" argument must be an object');
  if (typeof opts.ifname !== 'string' || opts.ifname === '' || opts.ifname.length >= 16) {
    throw argError('ERR_INVALID_ARG_VALUE', `openXsk: ifname must be an interface name (1..15 characters), got ${String(opts.ifname)}`);
  }
  if (!(opts.umem instanceof ArrayBuffer)) throw argError('ERR_INVALID_ARG_TYPE', 'openXsk: umem must be the ArrayBuffer of a mapShared() region');
  const x = native.xsk;
  const zeroCopy = opts.zeroCopy ?? 'auto';
  const xdp = opts.xdp ?? 'auto';
  if (!(zeroCopy in x.zeroCopyModes)) throw argError('ERR_INVALID_ARG_VALUE', `openXsk: zeroCopy must be auto, force or never, got ${String(zeroCopy)}`);
  if (!(xdp in x.xdpModes)) throw argError('ERR_INVALID_ARG_VALUE', `openXsk: xdp must be auto, native, generic or none, got ${String(xdp)}`);
  const n: NativeXskOptions = {
    ifname: opts.ifname,
    umem: opts.umem,
    queue: opts.queue === undefined ? 0 : checkInt('queue', opts.queue, 0),
    frames: opts.frames === undefined ? 0 : checkInt('frames', opts.frames, 1),
    frameSize: powerOfTwo('frameSize', opts.frameSize, 2048, false),
    headroom: opts.headroom === undefined ? 0 : checkInt('headroom', opts.headroom, 0),
    fillSize: powerOfTwo('fillSize', opts.fillSize, XSK_MIN_FILL, false),
    completionSize: powerOfTwo('completionSize', opts.completionSize, 2048, false),
    rxSize: powerOfTwo('rxSize', opts.rxSize, 2048, true),
    txSize: powerOfTwo('txSize', opts.txSize, 2048, true),
    zeroCopy: x.zeroCopyModes[zeroCopy],
    xdp: x.xdpModes[xdp],
    txBudget: opts.txBudget === undefined ? 0 : checkInt('txBudget', opts.txBudget, 32),
  };
  if (opts.netns !== undefined) {
    if (typeof opts.netns !== 'string' || opts.netns === '') throw argError('ERR_INVALID_ARG_TYPE', 'openXsk: netns must be a namespace name or path');
    n.netns = opts.netns.includes('/') ? opts.netns : `/run/netns/${opts.netns}`;
  }
  return new native.XskSocket(n);
}

// Effective capabilities this process holds (CapEff in /proc/self/status), by bit number.
const CAP_NET_ADMIN = 12;
const CAP_NET_RAW = 13;
const CAP_SYS_ADMIN = 21;
const CAP_BPF = 39;
function hasCap(bit: number): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m !== null && ((BigInt(`0x${m[1]}`) >> BigInt(bit)) & 1n) === 1n;
  } catch {
    return false;
  }
}

/**
 * What stands between this process and an AF_XDP socket with an XDP program, each with its fix:
 * the addon, libbpf at build time, privileges, kernel support. Empty `problems` = go ahead.
 */
export function xskCapability(): { ok: boolean; problems: string[] } {
  const problems: string[] = [];
  if (loadError !== undefined) {
    problems.push(`addon: ${loadError.message}`);
    return { ok: false, problems };
  }
  if (!native.xsk.libbpf) problems.push(`libbpf: ${native.xsk.buildHint}`);
  const missing = [
    [CAP_NET_RAW, 'CAP_NET_RAW'],
    [CAP_NET_ADMIN, 'CAP_NET_ADMIN'],
  ].filter(([bit]) => !hasCap(bit as number));
  if (!hasCap(CAP_BPF) && !hasCap(CAP_SYS_ADMIN)) missing.push([CAP_BPF, 'CAP_BPF']);
  if (missing.length > 0) {
    problems.push(
      `privileges: AF_XDP and XDP programs need ${missing.map(([, name]) => name).join(', ')}: run as root ` +
        '(tests: sudo), or `setcap cap_net_raw,cap_net_admin,cap_bpf,cap_ipc_lock+ep $(command -v node)`',
    );
  }
  if (!existsSync('/proc/sys/net/core/bpf_jit_enable') && !existsSync('/proc/sys/kernel/unprivileged_bpf_disabled')) {
    problems.push('kernel: no BPF support visible in /proc/sys: use a kernel with CONFIG_BPF_SYSCALL and CONFIG_XDP_SOCKETS (Linux >= 5.9)');
  }
  return { ok: problems.length === 0, problems };
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
