/**
 * Where the CPU went during a benchmark phase (Linux /proc): the whole machine, this process tree
 * by role (bench driver, target, nats-server, each havok actor), and everything else. On a shared
 * 2-core machine "everything else" decides whether a figure is the tool's or the neighbours'.
 *
 * Figures are in cores (CPU-seconds per second): 2.0 = both cores of a 2-core machine busy.
 * Processes are sampled every `intervalMs`, so a process that lives shorter than that is missed,
 * and one that exits loses at most its last interval. Without /proc every figure is 0.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface CpuUse {
  seconds: number;
  /** Busy cores, whole machine, in processes (user + system; interrupts are apart). */
  machine: number;
  /** Cores spent in interrupts (mostly softirq: loopback TCP of the benchmark itself). */
  irq: number;
  /** Cores the hypervisor took from this VM. */
  steal: number;
  /** Busy cores, this process and its descendants. */
  tree: number;
  /** machine − tree: other users' load during the phase. */
  others: number;
  /** Busy cores by role within the tree. */
  by_role: Record<string, number>;
}

function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

const TICKS = clockTicks();

interface MachineTicks {
  /** user + nice + system */
  busy: number;
  irq: number;
  steal: number;
  total: number;
}

/** Ticks of all CPUs together, from the first line of /proc/stat. */
function machineTicks(): MachineTicks {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal = 0] = f;
  const busy = user + nice + system;
  return { busy, irq: irq + softirq, steal, total: busy + idle + iowait + irq + softirq + steal };
}

interface ProcInfo {
  ppid: number;
  ticks: number;
}

function readProc(pid: number): ProcInfo | undefined {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": comm may hold spaces or parentheses, so split after the last ')'.
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

/** bench | target | nats | nginx | wrk | hey | havok actor name (fetcher, timewheel, …, local) | other. */
function roleOf(pid: number): string {
  if (pid === process.pid) return 'bench';
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return 'other';
  }
  // The script is the first argument after node's own flags (actors run with heap flags).
  const at = argv.findIndex((a, i) => i > 0 && !a.startsWith('-'));
  const script = at > 0 ? argv[at] : '';
  if (argv[0].endsWith('nats-server')) return 'nats';
  // nginx renames its processes `nginx: master process …` / `nginx: worker process`.
  const exe = argv[0].slice(argv[0].lastIndexOf('/') + 1);
  if (exe.startsWith('nginx')) return 'nginx';
  if (exe === 'wrk' || exe === 'hey') return exe;
  if (script.endsWith('bench/target.js')) return 'target';
  if (script.endsWith('havok.js') || script.endsWith('cli/main.js')) return argv[at + 1] ?? 'havok';
  return 'other';
}

export class CpuMeter {
  private timer?: NodeJS.Timeout;
  private startedAt = 0;
  private machine0: MachineTicks = { busy: 0, irq: 0, steal: 0, total: 0 };
  /** Last ticks seen per pid of the tree, and its role. */
  private readonly last = new Map<number, { ticks: number; role: string }>();
  private readonly byRole: Record<string, number> = {};
  private readonly available: boolean;

  constructor(private readonly intervalMs = 250) {
    let ok = true;
    try {
      machineTicks();
    } catch {
      ok = false;
    }
    this.available = ok;
  }

  start(): void {
    if (!this.available) return;
    this.startedAt = performance.now();
    this.machine0 = machineTicks();
    this.last.clear();
    for (const k of Object.keys(this.byRole)) delete this.byRole[k];
    this.sample(true);
    this.timer = setInterval(() => this.sample(false), this.intervalMs);
    this.timer.unref();
  }

  stop(): CpuUse {
    clearInterval(this.timer);
    const seconds = (performance.now() - this.startedAt) / 1000;
    if (!this.available || seconds <= 0) return { seconds: 0, machine: 0, irq: 0, steal: 0, tree: 0, others: 0, by_role: {} };
    this.sample(false);
    const m1 = machineTicks();
    const m0 = this.machine0;
    const share = (k: 'busy' | 'irq' | 'steal'): number => (m1.total > m0.total ? ((m1[k] - m0[k]) / (m1.total - m0.total)) * totalCores() : 0);
    const cores = share('busy');
    const perS = (ticks: number): number => round2(ticks / TICKS / seconds);
    const by_role: Record<string, number> = {};
    let treeTicks = 0;
    for (const [role, ticks] of Object.entries(this.byRole)) {
      by_role[role] = perS(ticks);
      treeTicks += ticks;
    }
    const tree = perS(treeTicks);
    return { seconds: round2(seconds), machine: round2(cores), irq: round2(share('irq')), steal: round2(share('steal')), tree, others: round2(Math.max(0, cores - tree)), by_role };
  }

  /** Adds each tree process's ticks since its last sample (a new process counts from 0 unless `baseline`). */
  private sample(baseline: boolean): void {
    let pids: number[];
    try {
      pids = readdirSync('/proc').filter((d) => d.charCodeAt(0) <= 57).map(Number);
    } catch {
      return;
    }
    const info = new Map<number, ProcInfo>();
    for (const pid of pids) {
      const p = readProc(pid);
      if (p) info.set(pid, p);
    }
    const inTree = (pid: number): boolean => {
      for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
        if (p === process.pid) return true;
        p = info.get(p)?.ppid ?? 0;
      }
      return false;
    };
    for (const [pid, p] of info) {
      if (!inTree(pid)) continue;
      const prev = this.last.get(pid);
      const role = prev?.role ?? roleOf(pid);
      const delta = prev ? p.ticks - prev.ticks : baseline ? 0 : p.ticks;
      if (delta > 0) this.byRole[role] = (this.byRole[role] ?? 0) + delta;
      this.last.set(pid, { ticks: p.ticks, role });
    }
  }
}

function totalCores(): number {
  try {
    return readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d+ /.test(l)).length || 1;
  } catch {
    return 1;
  }
}

const round2 = (x: number): number => Math.round(x * 100) / 100;
