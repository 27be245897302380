/**
 * `havok` command line. Each actor is a subcommand sharing the config options; exit codes are
 * 0 done, 1 job failed, 2 bad usage or config, 3 responses differ under `[diff]
 * fail_on_difference` (docs/architecture.md, The user contract).
 */
import { Command, CommanderError, Option } from 'commander';
import { ENV_WARNED, loadConfigWithWarnings, type HavokConfig } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { runAsProcess, type Actor } from '../shared/lifecycle.js';
import { createLogger, type Logger } from '../shared/log.js';
import { serveHealth } from '../shared/health.js';
import type { ControlOp } from '../shared/protocol.js';
import { defaultReplayerId } from '../services/replayer/id.js';
import { addTrafficCommands, positiveInt } from './traffic.js';

// Each subcommand loads only its own actor's code (dynamic import): an actor process then holds
// its own dependencies only — loading all of them (kafkajs, SLS SDK, influx…) cost ~35 MB each.

interface ConfigFlags {
  config?: string;
  set: string[];
  nats?: string;
  job?: string;
}

const collect = (value: string, prev: string[]): string[] => [...prev, value];

function withConfigOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'job config (TOML); see docs/config.md')
    .option('--set <key=value>', 'override a config key, e.g. --set job.speed=10 (repeatable)', collect, [])
    .option('--nats <url>', 'NATS server URL (overrides [nats] url)')
    .option('--job <id>', 'job id (overrides [job] id)');
}

/** The options of the five actors: config, plus a health endpoint for orchestrators. */
function withActorOptions(cmd: Command): Command {
  return withConfigOptions(cmd).option('--health-port <port>', 'serve GET /healthz on this port (200 ready, 503 starting or draining) and GET /metrics (Prometheus); also HAVOK_HEALTH_PORT', (v) => parsePositiveInt(v, '--health-port'));
}

function configFrom(flags: ConfigFlags): HavokConfig {
  const set = [...flags.set];
  if (flags.nats) set.push(`nats.url="${flags.nats}"`);
  if (flags.job) set.push(`job.id="${flags.job}"`);
  const { config, warnings } = loadConfigWithWarnings({ file: flags.config, env: process.env, set });
  // Once per command: the actors `havok local` starts inherit the environment, and the marker.
  if (warnings.length && !process.env[ENV_WARNED]) {
    process.stderr.write(warnings.map((w) => `havok: warning: ${w.key}: ${w.message}\n`).join(''));
    process.env[ENV_WARNED] = '1';
  }
  return config;
}

type MakeActor = (cfg: HavokConfig, log: Logger) => Promise<Actor>;

async function runActor(name: string, flags: ConfigFlags & { healthPort?: number }, make: MakeActor): Promise<number> {
  const cfg = configFrom(flags);
  const log = createLogger(name, { job: cfg.job.id });
  const actor = await make(cfg, log);
  const healthPort = flags.healthPort ?? (process.env.HAVOK_HEALTH_PORT ? Number(process.env.HAVOK_HEALTH_PORT) : undefined);
  if (healthPort !== undefined) {
    const srv = await serveHealth(actor, name, healthPort);
    log.info({ port: healthPort }, 'health endpoint on /healthz');
    void actor.closed().then(() => srv.close());
  }
  return runAsProcess(actor, log);
}

export function buildProgram(): Command {
  const program = new Command('havok')
    .description(
      'Replays recorded HTTP traffic (access logs) against a target at the log\'s own timing,\n' +
        'sped up or slowed down, from a cluster of processes talking over NATS.\n\n' +
        'Quick start:  havok local --config examples/demo.toml --demo-target\n' +
        'Exit codes:   0 done, 1 job failed, 2 bad usage or config, 3 responses differ ([diff] fail_on_difference)',
    )
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();

  const actor = (name: string, summary: string, make: MakeActor): Command =>
    withActorOptions(program.command(name).description(summary)).action(async (flags: ConfigFlags) => {
      process.exitCode = await runActor(name, flags, make);
    });

  actor('fetcher', 'read the source, parse lines into records, publish them to the job stream', async (c, l) => new (await import('../services/fetcher/fetcher.js')).Fetcher(c, l));
  actor('timewheel', 'order records, pace them to the log\'s timing (speed, rate, idle cap) and release them', async (c, l) => new (await import('../services/timewheel/timewheel.js')).TimeWheel(c, l));
  actor('router', 'keep replayer membership and route each record to one replayer', async (c, l) => new (await import('../services/router/router.js')).Router(c, l));
  actor('gateway', 'take batches of JSON lines on POST /log/repo/{repo} and store them in the traffic stream ([gateway])', async (c, l) => new (await import('../services/gateway/gateway.js')).Gateway(c, l));
  actor('reporter', 'merge replayer stats, print progress, write the end report', async (c, l) => new (await import('../services/reporter/reporter.js')).Reporter(c, l));
  withActorOptions(program.command('replayer').description('send records to the target at their due time and report what happened'))
    .option('--id <name>', 'replayer id (letters, digits, _ and -)', defaultReplayerId())
    .action(async (flags: ConfigFlags & { id: string }) => {
      process.exitCode = await runActor('replayer', flags, async (c, l) => new (await import('../services/replayer/replayer.js')).Replayer(c, l.child({ replayer: flags.id }), flags.id));
    });

  withConfigOptions(program.command('local').description('run the whole cluster on this machine (starts nats-server if none is reachable)'))
    .option('--replayers <n>', 'replayer processes to start', (v) => parsePositiveInt(v, '--replayers'), 1)
    .option('--demo-target [port]', 'also run the built-in demo target (on the port of [replayer] target, or this one)')
    .option('--console [host:port]', 'also serve the live web console (default 127.0.0.1:8089) and print its address; off loopback it needs HAVOK_CONSOLE_TOKEN')
    .option('--gateway', 'also run the ingest gateway ([gateway]); with no [replayer] target, only the gateway runs, until Ctrl-C')
    .option(
      '--background-nice <n>',
      'scheduling niceness (0-19) of the actors that work ahead of the due time (fetcher, time wheel, router, reporter, gateway), so on a busy machine the replayers get a core first',
      (v) => parseNice(v),
      DEFAULT_BACKGROUND_NICE,
    )
    .action(async (flags: ConfigFlags & { replayers: number; demoTarget?: string | boolean; console?: string | true; gateway?: boolean; backgroundNice: number }) => {
      const cfg = configFrom(flags);
      const log = createLogger('local', { job: cfg.job.id });
      const { startDemoTarget } = await import('../services/demo-target/server.js');
      const { runLocal } = await import('../services/local/local.js');
      let demo: Awaited<ReturnType<typeof startDemoTarget>> | undefined;
      const set = [...flags.set];
      if (flags.nats) set.push(`nats.url="${flags.nats}"`);
      if (flags.job) set.push(`job.id="${flags.job}"`);
      if (flags.demoTarget !== undefined) {
        const port = typeof flags.demoTarget === 'string' ? parsePositiveInt(flags.demoTarget, '--demo-target') : Number(new URL(cfg.replayer.target ?? 'http://127.0.0.1:18080').port || 80);
        demo = await startDemoTarget({ port, log });
        if (!cfg.replayer.target) set.push(`replayer.target="${demo.url}"`);
        cfg.replayer.target ??= demo.url;
      }
      try {
        process.exitCode = await runLocal(cfg, { configPath: flags.config ?? '', set, replayers: flags.replayers, console: flags.console, gateway: flags.gateway, backgroundNice: flags.backgroundNice }, log);
      } finally {
        await demo?.close();
      }
    });

  withConfigOptions(program.command('console').description('serve a live web page for a running job: progress, charts, replayers, routes, errors, controls'))
    .option('--listen <host:port>', 'address of the page; any address but loopback needs a token', '127.0.0.1:8089')
    .option('--token <token>', 'required on every request (?token= or Authorization: Bearer); also HAVOK_CONSOLE_TOKEN')
    .action(async (flags: ConfigFlags & { listen: string; token?: string }) => {
      const cfg = configFrom(flags);
      const { runConsole } = await import('../services/console/start.js');
      process.exitCode = await runConsole(cfg, flags, createLogger('console', { job: cfg.job.id }));
    });

  withConfigOptions(program.command('plan').description('dry run: read the source and print record count, log span, disorder, parse errors, expected duration and peak req/s; for [fetcher] type = "jetstream", what the filter selects first'))
    .option('--json', 'print the plan as JSON')
    .option('--scan-budget <n>', 'jetstream source: read at most this many stored records to count the selection; reported when reached', (v) => positiveInt(v, '--scan-budget'))
    .action(async (flags: ConfigFlags & { json?: boolean; scanBudget?: number }) => {
      const cfg = configFrom(flags);
      const { formatPlan, plan } = await import('../services/plan/plan.js');
      const p = await plan(cfg, flags.scanBudget ? { scanBudget: flags.scanBudget } : {});
      process.stdout.write((flags.json ? JSON.stringify(p, null, 2) : formatPlan(p, cfg)) + '\n');
    });

  const ctl = program.command('ctl').description('steer a running job: pause, resume, speed X, rate X, stop, status');
  const ctlOp = (op: ControlOp, summary: string, takesValue = false): void => {
    const cmd = withConfigOptions(ctl.command(takesValue ? `${op} <value>` : op).description(summary)).option('--json', 'print the answer as JSON');
    cmd.action(async (...args: unknown[]) => {
      const flags = (takesValue ? args[1] : args[0]) as ConfigFlags & { json?: boolean };
      let value: number | undefined;
      if (takesValue) {
        value = Number(args[0]);
        if (!Number.isFinite(value)) throw new ConfigError([{ key: `ctl ${op}`, message: `expected a number, got ${JSON.stringify(args[0])}` }]);
      }
      const { formatView, sendControl } = await import('../services/ctl/ctl.js');
      const reply = await sendControl(configFrom(flags), op, value);
      process.stdout.write(flags.json ? JSON.stringify(reply, null, 2) + '\n' : (reply.ok ? '' : `error: ${reply.error}\n`) + formatView(reply.view) + '\n');
      process.exitCode = reply.ok ? 0 : 1;
    });
  };
  ctlOp('status', 'show the job: state, speed, rate, log-time position, progress, req/s, replayers');
  ctlOp('pause', 'stop releasing records (those due within lead_ms still go out); log time freezes');
  ctlOp('resume', 'continue from the frozen log time, without a catch-up burst');
  ctlOp('speed', 'change the log-time speed-up from now on, e.g. `havok ctl speed 4 --job demo`', true);
  ctlOp('rate', 'change copies per record from the next record on, e.g. `havok ctl rate 0.5`', true);
  ctlOp('stop', 'end the job now; records never sent count as dropped (stopped) in the report');

  addTrafficCommands(program, withConfigOptions, configFrom);

  program
    .command('demo-target')
    .description('run the built-in demo HTTP target (200 for most paths, 404 for *.php and /404, 50 ms for /slow)')
    .option('-p, --port <port>', 'port to listen on', (v) => parsePositiveInt(v, '--port'), 18080)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--latency-ms <ms>', 'base latency of every answer', (v) => Number(v), 2)
    .action(async (flags: { port: number; host: string; latencyMs: number }) => {
      const log = createLogger('demo-target');
      const { startDemoTarget } = await import('../services/demo-target/server.js');
      const t = await startDemoTarget({ port: flags.port, host: flags.host, latencyMs: flags.latencyMs, log });
      process.stdout.write(`demo target listening on ${t.url}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await t.close();
    });

  program.addOption(new Option('--log-level <level>', 'log level (also HAVOK_LOG_LEVEL)').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']));
  program.hook('preAction', (cmd) => {
    const level = cmd.opts<{ logLevel?: string }>().logLevel;
    if (level) process.env.HAVOK_LOG_LEVEL = level;
  });
  return program;
}

function parsePositiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError([{ key: flag, message: `expected a positive integer, got ${JSON.stringify(v)}` }]);
  return n;
}

/** Measured in bench/README.md (against nginx's clock): see "Scheduling". */
const DEFAULT_BACKGROUND_NICE = 0;

function parseNice(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 19) throw new ConfigError([{ key: '--background-nice', message: `expected an integer from 0 to 19, got ${JSON.stringify(v)}` }]);
  return n;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if ((err as Error).name === 'CtlError' || (err as Error).name === 'TrafficCliError') {
      process.stderr.write(`havok ${(err as Error).name === 'CtlError' ? 'ctl' : 'traffic'}: ${(err as Error).message}\n`);
      process.exitCode = 1;
      return;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`havok: configuration error\n${err.issues.map((i) => `  ${i.key}: ${i.message}`).join('\n')}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`havok: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}

await main(process.argv);
