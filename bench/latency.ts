/**
 * Issue 7's accuracy check, as a benchmark (it depends on the machine's load, so it is not a
 * test): a target whose answers are delayed by a known distribution — 50, 51, …, 149 ms, each
 * equally often, in a shuffled order — is replayed at a modest rate over 2 replayers, and the
 * reported p50/p99 are compared with the distribution's own (the merge across replayers must be
 * exact for them to match).
 *
 *   node dist/bench/latency.js [--requests N] [--rate R]
 */
import { parseArgs } from 'node:util';
import { startNatsServer } from '../services/local/nats-server.js';
import { startTarget } from '../test/support/target-server.js';
import { pacedJsonl, readReport, runHavok, writeJob } from '../test/support/havok-cli.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '2000' }, rate: { type: 'string', default: '100' } } });
const n = Number(values.requests);
const rate = Number(values.rate);
const delays = Array.from({ length: n }, (_, i) => 50 + (i % 100));
for (let i = delays.length - 1; i > 0; i--) {
  const j = (i * 7919) % (i + 1);
  [delays[i], delays[j]] = [delays[j], delays[i]];
}
let k = 0;
const nats = await startNatsServer();
const target = await startTarget({ latencyMs: () => delays[k++ % n] });
try {
  const job = writeJob({ job: 'latency', target: target.url, nats: nats.url, job_toml: 'speed = 1', format: 'jsonl', lines: pacedJsonl(n, 1000 / rate, '/lat/') });
  const res = await runHavok(['local', '--config', job.config, '--replayers', '2']);
  if (res.code !== 0) throw new Error(`havok local exited ${res.code}: ${res.stderr}`);
  const r = readReport(job.report);
  const sorted = [...delays].sort((a, b) => a - b);
  const known = { p50: sorted[Math.ceil(0.5 * n) - 1], p99: sorted[Math.ceil(0.99 * n) - 1] };
  const rows = (['p50', 'p99'] as const).map((p) => {
    const err = ((r.latency_ms[p] - known[p]) / known[p]) * 100;
    return `| ${p} | ${known[p]} ms | ${r.latency_ms[p]} ms | ${err >= 0 ? '+' : ''}${err.toFixed(2)}% | ${Math.abs(err) <= 2 ? 'ok' : 'OVER 2%'} |`;
  });
  process.stdout.write(
    [`latency accuracy: ${n} requests at ${rate} req/s over 2 replayers (count ${r.latency_ms.count})`, '', '| percentile | known | reported | error | within 2% |', '|---|---|---|---|---|', ...rows, ''].join('\n') + '\n',
  );
} finally {
  await target.close();
  await nats.stop();
}
