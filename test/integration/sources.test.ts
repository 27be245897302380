/**
 * Several files in one job (one log per web server): merged into one timeline by timestamp with
 * per-source watermarks, so requests arrive in global timestamp order.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startNatsServer, type NatsServerHandle } from '../support/nats-server.js';
import { startTarget } from '../support/target-server.js';
import { readReport, runHavok, writeJob } from '../support/havok-cli.js';
import { worstOvertake } from '../support/order.js';

describe('several sources in one job', { timeout: 120_000 }, () => {
  let nats: NatsServerHandle;
  before(async () => {
    nats = await startNatsServer();
  });
  after(async () => {
    await nats.stop();
  });

  test('four files with interleaved timestamps arrive in global timestamp order', async () => {
    const target = await startTarget();
    try {
      const job = writeJob({ job: 'multi', log: '', target: target.url, nats: nats.url, job_toml: 'speed = 4' });
      const t0 = Date.UTC(2024, 0, 1);
      // File k holds every 4th record (k, k+4, …), 20 ms of log time apart globally, and each
      // file is itself shuffled by up to 1 s (the re-order window covers that).
      for (let k = 0; k < 4; k++) {
        const lines: string[] = [];
        for (let i = 0; i < 250; i++) {
          const g = 4 * i + k;
          lines.push(JSON.stringify({ ts: t0 + g * 20, url: `/g/${g}` }));
        }
        for (let i = 0; i + 1 < lines.length; i += 2) if (i % 5 === 0) [lines[i], lines[i + 1]] = [lines[i + 1], lines[i]];
        writeFileSync(join(job.dir, `server-${k}.jsonl`), lines.join('\n') + '\n');
      }
      writeFileSync(job.config, readFileSync(job.config, 'utf8').replace('path = ""', `path = ${JSON.stringify(join(job.dir, 'server-*.jsonl'))}`).replace('format = "combined"', 'format = "jsonl"'));
      const res = await runHavok(['local', '--config', job.config]);
      assert.equal(res.code, 0, res.stderr + res.stdout);
      assert.equal(target.count(), 1000);
      const order = target.requests.map((r) => Number(r.url.split('/')[2]));
      assert.deepEqual([...order].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i), 'every record once');
      // Consecutive records are 5 ms of wall time apart at speed 4: allow neighbours within
      // 10 places (50 ms) to overtake each other on a loaded machine. Reading the files one
      // after another instead of merging them would put records 250 places out.
      const worst = worstOvertake(order);
      assert.ok(worst <= 10, `a request arrived ${worst} places behind an earlier-arrived later one`);
      const report = readReport(job.report);
      assert.equal(report.records.read, 1000);
      assert.deepEqual(report.accounting, { records_close: true, requests_close: true });
    } finally {
      await target.close();
    }
  });
});
