/**
 * The job config every bench replay uses: a JSONL file source, 256 requests in flight over 64
 * connections (or Havok's defaults with `tuned: false`), the JSON report at `reportPath`. One
 * place, so the phases stay comparable.
 */
export interface BenchJob {
  jobId: string;
  logPath: string;
  targetUrl: string;
  natsUrl: string;
  reportPath: string;
  speed: number;
  maxIdleMs: number;
  /** The bench's tuned replayer keys (max_inflight 256, 64 connections); false: Havok's defaults. */
  tuned?: boolean;
}

export function benchJobToml(o: BenchJob): string {
  return [
    '[job]',
    `id = "${o.jobId}"`,
    `speed = ${o.speed}`,
    `max_idle_ms = ${o.maxIdleMs}`,
    '[fetcher]',
    'type = "file"',
    '[fetcher.file]',
    `path = ${JSON.stringify(o.logPath)}`,
    'format = "jsonl"',
    '[replayer]',
    `target = "${o.targetUrl}"`,
    ...(o.tuned === false ? [] : ['max_inflight = 256', 'connections = 64']),
    '[nats]',
    `url = "${o.natsUrl}"`,
    '[reporter]',
    `json = ${JSON.stringify(o.reportPath)}`,
    '',
  ].join('\n');
}
