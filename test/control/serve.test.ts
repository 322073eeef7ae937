// `phoenix serve --control SOCK`: status and fault injection reach the driver process of a
// running service, through the same socket `phoenix inject` uses.
import t from 'tap';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { Control } from '../../src/driver/channel.js';
import { controlRequest } from '../../src/control/server.js';
import { ShmWorld } from '../../src/sandbox/shmworld.js';
import { until } from '../netback/harness.js';

type Status = { ok: boolean; vifs: unknown[]; uplink?: { pid: number; alive: boolean; channel: Record<string, number> } };

t.test('serve --uplink sim --control: status, driver-hang, clear, driver-crash', { timeout: 120_000 }, async (t) => {
  const world = await ShmWorld.create('phx-ctl-serve');
  t.teardown(() => world.close());
  const sock = join(world.runDir, 'ctl', 'control.sock');
  const backend = await world.startBackend(['--uplink', 'sim', '--pool-frames', '1024', '--control', sock]);
  t.equal(statSync(sock).mode & 0o777, 0o600, 'root-only socket');

  const st0 = (await controlRequest(sock, { op: 'status' })) as Status;
  t.equal(st0.ok, true);
  t.same(st0.vifs, [], 'no guests yet');
  const driverPid = st0.uplink!.pid;
  t.ok(st0.uplink!.alive, 'driver alive');

  t.match(await controlRequest(sock, { op: 'inject', fault: 'driver-hang' }), { ok: true, fault: 'driver-hang', driver: 'sim', pid: driverPid });
  const st = async (): Promise<Status> => (await controlRequest(sock, { op: 'status' })) as Status;
  await until(async () => (await st()).uplink!.channel.controlSeen === Control.hang, 'the driver took the hang', 20_000);
  t.pass('driver acted on the hang');
  t.match(await controlRequest(sock, { op: 'inject', fault: 'clear' }), { ok: true });
  t.match(await controlRequest(sock, { op: 'inject', fault: 'driver-crash' }), { ok: true, fault: 'driver-crash' });
  await until(async () => !(await st()).uplink!.alive, 'the driver died', 20_000);
  t.pass('driver-crash: the service saw its driver die and still answers');
  await world.stop(backend);
});
