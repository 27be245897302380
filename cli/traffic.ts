/**
 * `havok traffic query|show|stats|index`: the traffic store from the command line. Only the
 * commands are declared here; each action loads services/traffic/ by dynamic import.
 */
import type { Command } from 'commander';
import type { HavokConfig } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import type { FilterError, FilterFlags } from '../services/traffic/filter.js';
import { parseTrafficLineId } from '../shared/protocol.js';

interface TrafficFlags extends FilterFlags {
  config?: string;
  set: string[];
  nats?: string;
  job?: string;
  stream?: string;
  traceField?: string;
  json?: boolean;
}

const collect = (value: string, prev: string[]): string[] => [...prev, value];

const EXAMPLES = `
Filters (docs/traffic.md): all given filters must match.
  times: epoch ms, ISO 8601 (UTC when no zone), now, or a duration ago: 90s 15m 2h 7d

Examples:
  havok traffic query --repo shop --since 15m
  havok traffic query --repo shop --method POST --path '/api/orders*' --since 2026-12-03T10:00:00Z --until 2026-12-03T10:01:00Z
  havok traffic query --trace-id 4bf92f3577b34da6a3ce929d0e0e4736 --oldest --json
  havok traffic query --route /items/:id --status 5xx --field 'user=/^u1/'
  havok traffic show 123456
  havok traffic stats --repo shop --since 1h`;

/** The filter flags, shared by query and stats. */
function withFilterOptions(cmd: Command): Command {
  return cmd
    .option('--stream <name>', 'traffic stream', 'HAVOK_TRAFFIC')
    .option('--repo <repo>', 'only this repo (narrowed in the server)')
    .option('--since <time>', 'lines received at or after this time')
    .option('--until <time>', 'lines received at or before this time')
    .option('--method <method>', 'only this HTTP method (narrowed in the server)')
    .option('--path <glob>', "URL path glob: * within a segment, ** across, e.g. '/api/orders*'")
    .option('--route <template>', 'path template: :name matches one segment, e.g. /items/:id')
    .option('--status <code|class>', 'response status: 503, or a class 1xx..5xx')
    .option('--host <host>', 'host field, absolute URL host or Host header')
    .option('--trace-id <id>', 'lines carrying this trace id (through the trace index)')
    .option('--trace-field <name>', 'field holding the trace id (default: trace_id, traceId, TraceId, traceparent)')
    .option('--field <name=value>', 'field equals value, or NAME=/regex/flags; dotted names reach into objects (repeatable)', collect, [])
    .option('--scan-budget <n>', 'read at most this many stored records; reported when reached', (v) => positiveInt(v, '--scan-budget'));
}

/** A flag's value as a positive integer; exit 2 naming the flag otherwise. */
export function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError([{ key: flag, message: `expected a positive integer, got ${JSON.stringify(v)}` }]);
  return n;
}

/** A filter error named by the flag that carries the key. */
function flagError(err: FilterError): ConfigError {
  const flag = err.key.startsWith('field') ? '--field' : `--${err.key.replace(/_/g, '-')}`;
  return new ConfigError([{ key: flag, message: err.message.slice(err.key.length + 2) }]);
}

export function addTrafficCommands(program: Command, withConfigOptions: (cmd: Command) => Command, configFrom: (flags: TrafficFlags) => HavokConfig): void {
  const traffic = program.command('traffic').description('find recorded requests in the traffic stream: query, show, stats; and run its trace-id indexer');

  /** Connects, runs `fn`, closes; filter errors exit 2 naming the flag. */
  const withStore = async <T>(flags: TrafficFlags, fn: (m: typeof import('../services/traffic/cli-actions.js'), cfg: HavokConfig) => Promise<T>): Promise<T> => {
    const cfg = configFrom(flags);
    const m = await import('../services/traffic/cli-actions.js');
    try {
      return await fn(m, cfg);
    } catch (err) {
      if ((err as Error).name === 'FilterError') throw flagError(err as FilterError);
      throw err;
    }
  };

  withFilterOptions(withConfigOptions(traffic.command('query').description('print matching records: sequence, time, repo, method, status, URL, trace id')))
    .option('--limit <n>', 'records at most', (v) => positiveInt(v, '--limit'), 100)
    .option('--oldest', 'oldest first')
    .option('--newest', 'newest first (the default)')
    .option('--cursor <cursor>', 'go on from where an earlier query stopped (it prints the cursor)')
    .option('--json', 'print JSON lines, one record per line')
    .addHelpText('after', EXAMPLES)
    .action(async (flags: TrafficFlags & { limit: number; oldest?: boolean; newest?: boolean; cursor?: string; scanBudget?: number }) => {
      if (flags.oldest && flags.newest) throw new ConfigError([{ key: '--oldest', message: 'give --oldest or --newest, not both' }]);
      process.exitCode = await withStore(flags, (m, cfg) => m.queryCommand(cfg, flags, { limit: flags.limit, order: flags.oldest ? 'oldest' : 'newest', cursor: flags.cursor, scanBudget: flags.scanBudget }));
    });

  withConfigOptions(traffic.command('show <id>').description('print one stored record whole, as JSON: its id SEQ:LINE as `query` prints it (SEQ alone: line 0 of message SEQ)'))
    .option('--stream <name>', 'traffic stream', 'HAVOK_TRAFFIC')
    .addHelpText('after', '\nExample:\n  havok traffic show 123456:7 --nats nats://10.0.0.5:4222')
    .action(async (id: string, flags: TrafficFlags) => {
      const at = parseTrafficLineId(id);
      if (!at) throw new ConfigError([{ key: 'ID', message: `expected SEQ or SEQ:LINE (as \`havok traffic query\` prints it), got ${JSON.stringify(id)}` }]);
      process.exitCode = await withStore(flags, (m, cfg) => m.showCommand(cfg, flags, at.seq, at.line));
    });

  withFilterOptions(withConfigOptions(traffic.command('stats').description('count matching records by repo, route template, method and status')))
    .option('--json', 'print the counts as JSON')
    .addHelpText('after', EXAMPLES)
    .action(async (flags: TrafficFlags & { scanBudget?: number }) => {
      process.exitCode = await withStore(flags, (m, cfg) => m.statsCommand(cfg, flags, flags.scanBudget));
    });

  withConfigOptions(traffic.command('index').description('run the trace-id indexer: keeps the trace index (stream <stream>_TRACES) up with the traffic stream until stopped'))
    .option('--stream <name>', 'traffic stream', 'HAVOK_TRAFFIC')
    .option('--trace-field <name>', 'field holding the trace id (default: trace_id, traceId, TraceId, traceparent)')
    .option('--once', 'index up to the stream\'s end, then exit')
    .addHelpText('after', '\nExamples:\n  havok traffic index               # until SIGTERM / Ctrl-C\n  havok traffic index --once        # catch up and exit')
    .action(async (flags: TrafficFlags & { once?: boolean }) => {
      process.exitCode = await withStore(flags, (m, cfg) => m.indexCommand(cfg, flags, flags.once === true));
    });
}
