/**
 * docker-compose.yml cannot be run here (no Docker engine), so it is checked by reading it (and by
 * running `havok --help` and `nats-server -t`, hence an integration test): every
 * havok container runs a real subcommand of the CLI, with a config file that exists and loads
 * under that container's environment, through mounts whose host paths exist.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadConfig, type HavokConfig } from '../../shared/config.js';

// From dist/test/unit/ up to the repository root.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HAVOK_IMAGE = 'havok:local';
const ACTORS = ['fetcher', 'timewheel', 'router', 'replayer', 'reporter'] as const;
/** HAVOK_* variables read outside the config (shared/log.ts). */
const NON_CONFIG_ENV = new Set(['HAVOK_LOG_LEVEL']);

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, unknown> | string[];
  volumes?: Array<string | { type?: string; source?: string; target?: string; read_only?: boolean }>;
  ports?: unknown[];
  container_name?: string;
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[] };
  deploy?: { replicas?: number };
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/**
 * Compose interpolation, with every variable unset so the result does not depend on the shell
 * running the test: `${X:-d}` and `${X-d}` → d, `${X}` and `$X` → '', `$$` → '$'.
 */
function interpolate(value: unknown): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, _braced, dflt) =>
      m === '$$' ? '$' : (dflt ?? ''),
    );
  }
  if (Array.isArray(value)) return value.map(interpolate);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v)]));
  return value;
}

function loadCompose(): Compose {
  // merge: compose honours YAML merge keys (`<<: *havok`), which YAML 1.2 leaves off by default.
  return interpolate(parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true })) as Compose;
}

const compose = loadCompose();
const havokServices = Object.entries(compose.services).filter(([, s]) => s.image === HAVOK_IMAGE);

function argv(s: Service): string[] {
  if (s.command === undefined) return [];
  // Shell-form commands are split on blanks, as compose does for a string without quotes.
  return Array.isArray(s.command) ? s.command.map(String) : s.command.trim().split(/\s+/);
}

function environment(s: Service): Record<string, string> {
  const env = s.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((item) => {
      const eq = item.indexOf('=');
      return eq < 0 ? [item, ''] : [item.slice(0, eq), item.slice(eq + 1)];
    }));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null || v === undefined ? '' : String(v)]));
}

interface Mount {
  /** Absolute host path for a bind mount; the volume name for a named volume. */
  source: string;
  bind: boolean;
  target: string;
  readOnly: boolean;
}

function mounts(s: Service): Mount[] {
  return (s.volumes ?? []).map((v) => {
    let source: string, target: string, readOnly: boolean, bind: boolean;
    if (typeof v === 'string') {
      const parts = v.split(':');
      assert.ok(parts.length >= 2 && parts.length <= 3, `volume ${JSON.stringify(v)}: expected SOURCE:TARGET[:MODE]`);
      [source, target] = parts;
      readOnly = (parts[2] ?? '').split(',').includes('ro');
      bind = /^[./~]/.test(source);
    } else {
      assert.ok(v.source && v.target, `volume ${JSON.stringify(v)}: expected source and target`);
      [source, target, readOnly, bind] = [v.source, v.target, v.read_only === true, v.type === 'bind'];
    }
    return { source: bind ? join(ROOT, source) : source, bind, target: posix.normalize(target), readOnly };
  });
}

/** The host path a container path reads from, through the longest mount that covers it. */
function hostPath(s: Service, containerPath: string): { path: string; mount: Mount } | undefined {
  const p = posix.normalize(containerPath);
  const covering = mounts(s)
    .filter((m) => m.bind && (p === m.target || p.startsWith(m.target.replace(/\/?$/, '/'))))
    .sort((a, b) => b.target.length - a.target.length)[0];
  return covering && { path: join(covering.source, posix.relative(covering.target, p)), mount: covering };
}

function optionValue(args: string[], ...names: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (names.includes(args[i])) return args[i + 1];
    const eq = names.map((n) => `${n}=`).find((n) => args[i].startsWith(n));
    if (eq) return args[i].slice(eq.length);
  }
  return undefined;
}

/** The subcommands `havok --help` lists (commander's "Commands:" section). */
function cliSubcommands(): string[] {
  const help = execFileSync(process.execPath, [join(ROOT, 'bin/havok.js'), '--help'], { cwd: ROOT, encoding: 'utf8' });
  const lines = help.split('\n');
  const start = lines.findIndex((l) => /^Commands:\s*$/.test(l));
  assert.ok(start >= 0, `no "Commands:" section in havok --help:\n${help}`);
  const names: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    // Command rows are indented two spaces; wrapped description lines are indented further.
    const m = /^ {2}([a-z][\w-]*)/.exec(line);
    if (m) names.push(m[1]);
  }
  return names;
}

/** The config the container would load: its --config file (through its mounts) and its environment. */
function containerConfig(name: string, s: Service): { config: HavokConfig; file: string } | undefined {
  const configPath = optionValue(argv(s), '--config', '-c');
  if (configPath === undefined) return undefined;
  const host = hostPath(s, configPath);
  assert.ok(host, `${name}: --config ${configPath} is not under any bind mount`);
  assert.ok(existsSync(host.path) && statSync(host.path).isFile(), `${name}: --config ${configPath} → ${host.path}: no such file`);
  try {
    return { config: loadConfig({ file: host.path, env: environment(s) }), file: host.path };
  } catch (err) {
    const issues = (err as { issues?: unknown }).issues;
    assert.fail(`${name}: ${host.path} with the service environment does not load: ${issues ? JSON.stringify(issues) : String(err)}`);
  }
}

describe('docker-compose.yml', () => {
  it('runs each actor, and the demo target, on the image built from the Dockerfile', () => {
    const names = havokServices.map(([n]) => n);
    for (const actor of ACTORS) assert.ok(names.includes(actor), `no service ${actor} with image ${HAVOK_IMAGE} (have: ${names.join(', ')})`);
    for (const [name, s] of havokServices) {
      const context = typeof s.build === 'string' ? s.build : s.build?.context;
      assert.equal(context, '.', `${name}: build context should be the repository root`);
      const dockerfile = (typeof s.build === 'object' && s.build.dockerfile) || 'Dockerfile';
      assert.ok(existsSync(join(ROOT, dockerfile)), `${name}: ${dockerfile} does not exist`);
    }
  });

  it('starts every havok container with a real subcommand of the CLI', () => {
    const subcommands = cliSubcommands();
    for (const actor of [...ACTORS, 'demo-target']) assert.ok(subcommands.includes(actor), `havok --help does not list ${actor}: ${subcommands.join(', ')}`);
    for (const [name, s] of havokServices) {
      const [first] = argv(s);
      assert.ok(first, `${name}: no command (the image's default is --help)`);
      assert.ok(subcommands.includes(first), `${name}: command ${JSON.stringify(argv(s))} starts with ${JSON.stringify(first)}, not one of ${subcommands.join(', ')}`);
    }
  });

  it('gives every --config a file in the repository that loads under the service environment', () => {
    let checked = 0;
    for (const [name, s] of havokServices) {
      if (ACTORS.includes(argv(s)[0] as (typeof ACTORS)[number])) {
        assert.ok(optionValue(argv(s), '--config', '-c'), `${name}: actor started without --config`);
      }
      if (containerConfig(name, s)) checked++;
    }
    assert.ok(checked >= ACTORS.length, `only ${checked} services have a --config`);
  });

  it('sets only HAVOK_* variables that are config keys', () => {
    // loadConfig ignores a variable of an unknown section and rejects one of an unknown key, so
    // each variable is loaded alone, with a probe value, on top of the service's config file: a
    // config key either takes the probe or rejects it naming the variable; anything else is not one.
    const probe = 'havok-compose-test-probe';
    for (const [name, s] of havokServices) {
      const loaded = containerConfig(name, s);
      for (const key of Object.keys(environment(s))) {
        if (!key.startsWith('HAVOK_') || NON_CONFIG_ENV.has(key)) continue;
        assert.ok(loaded, `${name}: sets ${key} but has no --config`);
        const baseline = JSON.stringify(loadConfig({ file: loaded.file, env: {} }));
        let probed: string;
        try {
          probed = JSON.stringify(loadConfig({ file: loaded.file, env: { [key]: JSON.stringify(probe) } }));
        } catch (err) {
          const issues = ((err as { issues?: Array<{ key: string; message: string }> }).issues ?? []).filter((i) => i.message.includes(`(from ${key})`));
          assert.ok(issues.length > 0, `${name}: loading ${key} alone fails without naming it: ${String(err)}`);
          for (const i of issues) assert.doesNotMatch(i.message, /unknown key/, `${name}: ${key} → ${i.key}: ${i.message}`);
          continue; // a real key that does not take a string: it exists
        }
        assert.notEqual(probed, baseline, `${name}: ${key} changes no config key (its section is unknown)`);
      }
    }
  });

  it('points the NATS URL of every actor at the nats service', () => {
    assert.ok(compose.services.nats, 'no nats service');
    for (const [name, s] of havokServices) {
      const loaded = containerConfig(name, s);
      if (!loaded) continue;
      assert.equal(new URL(loaded.config.nats.url).hostname, 'nats', `${name}: nats.url is ${loaded.config.nats.url}`);
    }
  });

  it('mounts only host paths that exist, and declares every named volume', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const m of mounts(s)) {
        if (m.bind) assert.ok(existsSync(m.source), `${name}: mounts ${m.source}, which does not exist`);
        else assert.ok(compose.volumes && m.source in compose.volumes, `${name}: named volume ${m.source} is not declared under volumes:`);
      }
    }
  });

  it('mounts the fetcher source and a writable directory for the reporter end report', () => {
    const fetcher = compose.services.fetcher;
    const fetched = containerConfig('fetcher', fetcher);
    assert.ok(fetched, 'fetcher has no --config');
    if (fetched.config.fetcher.type === 'file') {
      const paths = [fetched.config.fetcher.file.path ?? []].flat();
      assert.ok(paths.length > 0, 'fetcher.file.path is not set');
      for (const p of paths) {
        // A glob is checked by its directory.
        const path = /[*?[\]{}]/.test(p) ? posix.dirname(p.replace(/[*?[\]{}].*$/, 'x')) : p;
        const host = hostPath(fetcher, path);
        assert.ok(host, `fetcher: source ${p} is not under any bind mount`);
        assert.ok(existsSync(host.path), `fetcher: source ${p} → ${host.path}: no such file`);
      }
    }
    const reporter = compose.services.reporter;
    const reported = containerConfig('reporter', reporter);
    assert.ok(reported, 'reporter has no --config');
    const host = hostPath(reporter, dirname(reported.config.reporter.json));
    assert.ok(host, `reporter: the report directory of ${reported.config.reporter.json} is not a bind mount, so the report stays in the container`);
    assert.ok(!host.mount.readOnly, `reporter: ${host.mount.target} is mounted read-only`);
  });

  it('lets the replayer scale: no container_name, no host ports', () => {
    const replayer = compose.services.replayer;
    assert.ok(replayer, 'no replayer service');
    assert.equal(replayer.container_name, undefined, 'replayer: container_name prevents --scale');
    const bound = (replayer.ports ?? []).filter((p) => (typeof p === 'object' ? Boolean((p as { published?: unknown }).published) : /:/.test(String(p))));
    assert.deepEqual(bound, [], 'replayer: host port bindings clash between replicas');
  });

  it('starts the actors only once NATS is healthy', () => {
    const nats = compose.services.nats;
    assert.ok(nats?.healthcheck?.test, 'nats: no healthcheck');
    for (const [name, s] of havokServices) {
      if (!ACTORS.includes(argv(s)[0] as (typeof ACTORS)[number])) continue;
      const dep = Array.isArray(s.depends_on) ? undefined : s.depends_on?.nats;
      assert.equal(dep?.condition, 'service_healthy', `${name}: should depend on nats with condition service_healthy`);
    }
  });

  it('provisions Grafana with the InfluxDB data source the dashboard uses', () => {
    const datasources = parse(readFileSync(join(ROOT, 'deploy/grafana/provisioning/datasources/influxdb.yml'), 'utf8')) as {
      datasources: Array<{ uid: string; type: string; url: string; jsonData?: { dbName?: string } }>;
    };
    const influx = datasources.datasources.find((d) => d.type === 'influxdb');
    assert.ok(influx, 'no influxdb data source');
    assert.equal(influx.url, 'http://influxdb:8086');
    assert.equal(influx.jsonData?.dbName, 'havok');
    const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/dashboards/havok.json'), 'utf8')) as {
      panels: Array<{ title: string; datasource?: { uid?: string }; targets: Array<{ query: string }> }>;
    };
    assert.ok(dashboard.panels.length >= 3);
    for (const panel of dashboard.panels) {
      assert.equal(panel.datasource?.uid, influx.uid, `panel ${panel.title}: data source`);
      for (const t of panel.targets) assert.match(t.query, /FROM "havok_(requests|api)"/, `panel ${panel.title}`);
    }
    const fields = dashboard.panels.flatMap((p) => p.targets.map((t) => t.query)).join('\n');
    for (const field of ['sent', 'failed', 'p50_ms', 'p99_ms', 'lateness_p99_ms', 'bytes_sent', 'status_5xx', 'count']) assert.ok(fields.includes(`"${field}"`), `no panel reads field ${field}`);
  });

  it('gives nats-server a configuration file it accepts', (t) => {
    const nats = compose.services.nats;
    const conf = optionValue(argv(nats), '--config', '-c');
    assert.ok(conf, 'nats: no --config');
    const host = hostPath(nats, conf);
    assert.ok(host && existsSync(host.path), `nats: --config ${conf} is not a mounted file`);
    assert.match(readFileSync(host.path, 'utf8'), /^\s*jetstream\s*[{:]/m, 'nats.conf does not enable JetStream');
    const bin = process.env.NATS_SERVER_BIN ?? 'nats-server';
    try {
      // -t: check the configuration and exit.
      execFileSync(bin, ['-c', host.path, '-t'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return t.skip(`${bin} not installed`);
      assert.fail(`nats-server rejects ${host.path}: ${(err as { stderr?: string }).stderr ?? String(err)}`);
    }
  });
});
