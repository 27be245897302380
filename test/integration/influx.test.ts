/**
 * Issue 7: the reporter writes InfluxDB 1.x (a real influxd started here) — one point per
 * interval for the job and per API — and the numbers agree with the JSON report.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { InfluxDB } from 'influx';
import { startInfluxd, type InfluxdHandle } from '../support/influxd.js';
import { startNatsServer, type NatsServerHandle } from '../support/nats-server.js';
import { startTarget } from '../support/target-server.js';
import { APACHE_LOG, readReport, runHavok, writeJob } from '../support/havok-cli.js';

describe('InfluxDB output', { timeout: 120_000 }, () => {
  let nats: NatsServerHandle;
  let influxd: InfluxdHandle;
  before(async () => {
    [nats, influxd] = await Promise.all([startNatsServer(), startInfluxd()]);
  });
  after(async () => {
    await Promise.all([nats.stop(), influxd.stop()]);
  });

  test('a job leaves one point per second per API, agreeing with the report', async () => {
    const target = await startTarget();
    try {
      const job = writeJob({
        job: 'influx',
        log: APACHE_LOG,
        target: target.url,
        nats: nats.url,
        job_toml: 'speed = 1000\nmax_idle_ms = 20',
        extra: `[reporter.influxdb]\nurl = "${influxd.url}"\ndatabase = "havok_test"`,
      });
      const res = await runHavok(['local', '--config', job.config]);
      assert.equal(res.code, 0, res.stderr + res.stdout);
      const report = readReport(job.report);
      assert.ok(report.influxdb, 'the report carries the InfluxDB counters');
      assert.equal(report.influxdb.write_errors, 0, JSON.stringify(report.influxdb));
      assert.ok(report.influxdb.points_written > 0);

      const db = new InfluxDB({ host: '127.0.0.1', port: Number(new URL(influxd.url).port), database: 'havok_test' });
      assert.ok((await db.getDatabaseNames()).includes('havok_test'), 'database created');
      const last = await db.query<{ last: number }>(`SELECT last("sent") FROM "havok_requests" WHERE "job" = 'influx'`);
      assert.equal(last[0].last, report.requests.sent);
      const perApi = await db.query<{ api: string; sum: number }>(`SELECT sum("count") FROM "havok_api" WHERE "job" = 'influx' GROUP BY "api"`);
      const fromInflux = new Map(perApi.map((r) => [r.api, r.sum]));
      for (const a of report.by_api) assert.equal(fromInflux.get(a.api), a.count, `API ${a.api}: InfluxDB ${fromInflux.get(a.api)} vs report ${a.count}`);
      const completed = await db.query<{ sum: number }>(`SELECT sum("completed") FROM "havok_requests" WHERE "job" = 'influx'`);
      assert.equal(completed[0].sum, report.requests.ok + report.requests.failed);
      // One point per reporter interval (1 s) over the job.
      const points = await db.query<{ count: number }>(`SELECT count("sent") FROM "havok_requests" WHERE "job" = 'influx'`);
      assert.ok(Math.abs(points[0].count - report.duration_s) <= 3, `${points[0].count} points for a ${report.duration_s} s job`);
      // Bytes on the wire: what the target read is what the report says was sent, and back.
      const wire = target.wireBytes();
      assert.ok(report.bytes_sent > report.requests.sent * 20, `bytes_sent ${report.bytes_sent} for ${report.requests.sent} requests`);
      assert.deepEqual({ sent: report.bytes_sent, received: report.bytes_received }, { sent: wire.read, received: wire.written }, 'report bytes = bytes the target read / wrote');
      const fields = await db.query<{ bytes_sent: number; bytes_received: number; status_2xx: number }>(
        `SELECT last("bytes_sent") AS bytes_sent, last("bytes_received") AS bytes_received, last("status_2xx") AS status_2xx FROM "havok_requests" WHERE "job" = 'influx'`,
      );
      assert.deepEqual(
        { sent: fields[0].bytes_sent, received: fields[0].bytes_received, s2xx: fields[0].status_2xx },
        { sent: report.bytes_sent, received: report.bytes_received, s2xx: report.by_status_class['2xx'] },
        'InfluxDB bytes and status classes agree with the report',
      );
      // Every query of the provisioned Grafana dashboard runs against this data, as Grafana would
      // send it (template variables filled in), and finds numbers.
      const dashboard = JSON.parse(readFileSync(new URL('../../../deploy/grafana/dashboards/havok.json', import.meta.url), 'utf8')) as { panels: Array<{ title: string; targets: Array<{ query: string }> }> };
      for (const panel of dashboard.panels) {
        for (const t of panel.targets) {
          const q = t.query.replaceAll('$job', 'influx').replaceAll('$timeFilter', 'time > now() - 1h').replaceAll('$__interval', '1s');
          const rows = await db.query<Record<string, unknown>>(q);
          const numbers = rows.flatMap((r) => Object.entries(r).filter(([k, v]) => k !== 'time' && typeof v === 'number'));
          assert.ok(numbers.length > 0, `panel ${panel.title}: ${q} returned no numbers`);
        }
      }
    } finally {
      await target.close();
    }
  });

  test('an unreachable InfluxDB never blocks the replay; failures are counted', async () => {
    const target = await startTarget();
    try {
      const job = writeJob({
        job: 'noinflux',
        log: APACHE_LOG,
        target: target.url,
        nats: nats.url,
        job_toml: 'speed = 5000\nmax_idle_ms = 5',
        extra: '[reporter.influxdb]\nurl = "http://127.0.0.1:1"\ndatabase = "x"',
      });
      const res = await runHavok(['local', '--config', job.config]);
      assert.equal(res.code, 0, res.stderr + res.stdout);
      const report = readReport(job.report);
      assert.equal(report.requests.sent, 10_000);
      assert.ok(report.influxdb && report.influxdb.write_errors > 0 && report.influxdb.points_written === 0, JSON.stringify(report.influxdb));
    } finally {
      await target.close();
    }
  });
});
