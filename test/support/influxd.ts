/**
 * A real InfluxDB 1.x (Debian's `influxd`) per test suite, on free loopback ports with temp dirs
 * (docs/architecture.md, Tests). influxd cannot report a port it chose, so two free ports are found first by
 * binding port 0; the tiny window in which another process could take them is retried.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../../shared/ports.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface InfluxdHandle {
  url: string;
  stop(): Promise<void>;
}


async function ping(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/ping`);
    return res.status === 204;
  } catch {
    return false;
  }
}

export async function startInfluxd(bin = process.env.INFLUXD_BIN ?? 'influxd'): Promise<InfluxdHandle> {
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'havok-influxd-'));
    const [http, rpc] = [await freePort(), await freePort()];
    const config = join(dir, 'influxd.conf');
    writeFileSync(
      config,
      [
        'reporting-disabled = true',
        `bind-address = "127.0.0.1:${rpc}"`,
        '[meta]',
        `  dir = "${join(dir, 'meta')}"`,
        '[data]',
        `  dir = "${join(dir, 'data')}"`,
        `  wal-dir = "${join(dir, 'wal')}"`,
        '  query-log-enabled = false',
        '[http]',
        `  bind-address = "127.0.0.1:${http}"`,
        '  log-enabled = false',
        '[monitor]',
        '  store-enabled = false',
      ].join('\n'),
    );
    let stderr = '';
    const proc: ChildProcess = spawn(bin, ['-config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
    const spawnError = new Promise<Error>((resolve) => proc.once('error', resolve));
    const url = `http://127.0.0.1:${http}`;
    const deadline = Date.now() + 20_000;
    let up = false;
    while (Date.now() < deadline && proc.exitCode === null) {
      const err = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(r, 100))]);
      if (err) throw new Error(`cannot run ${bin}: ${err.message} (is influxd installed? apt-get install influxdb)`);
      if (await ping(url)) {
        up = true;
        break;
      }
    }
    const stop = async (): Promise<void> => {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    };
    if (up) return { url, stop };
    await stop();
    if (attempt >= 3) throw new Error(`influxd did not start on ${url}:\n${stderr}`);
  }
}
