// SPDX-License-Identifier: MIT
// states.mjs — dom0 side: print every vif xenbus state change with a millisecond clock.
//
// Watches /local/domain with the project's own XenstoreClient (the one the backend uses) and
// prints "PHX-STATE {ms, node, domid, devid, state}" whenever a frontend's or backend's `state`
// changes, a domain appears, or a node goes away (state null). The host computes probe,
// handshake and teardown times from these lines, all on this one clock.
import { XenstoreClient } from '/phoenix/dist/src/transport/xenstore/client.js';

const xs = await XenstoreClient.connect(process.argv[2] ?? '/run/xenstored/socket');
const last = new Map();
const t0 = performance.now();
const say = (o) => console.log(`PHX-STATE ${JSON.stringify({ ms: Math.round((performance.now() - t0) * 10) / 10, ...o })}`);
let chain = Promise.resolve();
const check = async (key, path, o) => {
  const v = (await xs.read(path).catch(() => undefined)) ?? null;
  if (last.get(key) === v) return;
  last.set(key, v);
  say({ ...o, state: v });
};
const known = new Map(); // key -> [path, fields]
const track = (key, path, o) => {
  if (!known.has(key)) known.set(key, [path, o]);
};
await xs.watch('/local/domain', 'phx-states', (path) => {
  chain = chain.then(async () => {
    let m = /^\/local\/domain\/(\d+)\/device\/vif\/(\d+)(\/state)?$/.exec(path);
    if (m) track(`fe/${m[1]}/${m[2]}`, `/local/domain/${m[1]}/device/vif/${m[2]}/state`, { node: 'fe', domid: +m[1], devid: +m[2] });
    m = /^\/local\/domain\/0\/backend\/vif\/(\d+)\/(\d+)(\/state)?$/.exec(path);
    if (m) track(`be/${m[1]}/${m[2]}`, `/local/domain/0/backend/vif/${m[1]}/${m[2]}/state`, { node: 'be', domid: +m[1], devid: +m[2] });
    m = /^\/local\/domain\/([1-9]\d*)(\/name)?$/.exec(path);
    if (m) track(`dom/${m[1]}`, `/local/domain/${m[1]}/name`, { node: 'domain', domid: +m[1] });
    // A removed directory fires one event for itself only: re-read everything beneath it.
    for (const [key, [p, o]] of known) if (p === path || p.startsWith(`${path}/`)) await check(key, p, o);
  });
});
say({ node: 'watcher', state: 'ready' });
process.on('SIGTERM', () => void xs.close().then(() => process.exit(0)));
