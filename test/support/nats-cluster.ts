/**
 * A 3-node nats-server cluster with JetStream on loopback, for tests that kill a node mid-run;
 * or, given test hosts (test/support/hosts.ts), one node per host on the host's address, for
 * tests that cut a node off. Cluster ports must be known up front (each node routes to the
 * others), so free ports are found by binding port 0 first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { freePort } from '../../shared/ports.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { check } from './check.js';

export interface ClusterNode {
  name: string;
  url: string;
  proc: ChildProcess;
}

export interface NatsCluster {
  nodes: ClusterNode[];
  /** All client URLs, comma-separated (the `[nats] url` form). */
  urls: string;
  kill(i: number): void;
  stop(): Promise<void>;
}


/** `hosts`: run node i in hosts[i]'s namespace, listening on its address. */
export async function startNatsCluster(size = 3, hosts?: ReadonlyArray<{ ns: string; ip: string }>): Promise<NatsCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'havok-cluster-'));
  const client: number[] = [];
  const route: number[] = [];
  for (let i = 0; i < size; i++) {
    client.push(await freePort());
    route.push(await freePort());
  }
  const nodes: ClusterNode[] = [];
  for (let i = 0; i < size; i++) {
    const addr = (j: number): string => hosts?.[j]?.ip ?? '127.0.0.1';
    const routes = route.map((p, j) => `nats://${addr(j)}:${p}`).filter((_, j) => j !== i).join(',');
    const bin = process.env.NATS_SERVER_BIN ?? 'nats-server';
    const args = ['-a', addr(i), '-p', String(client[i]), '-js', '-sd', join(dir, `n${i}`), '--name', `n${i}`, '--cluster_name', 'havok', '--cluster', `nats://${addr(i)}:${route[i]}`, '--routes', routes];
    const ns = hosts?.[i]?.ns;
    const proc = ns ? spawn('ip', ['netns', 'exec', ns, bin, ...args], { stdio: 'ignore' }) : spawn(bin, args, { stdio: 'ignore' });
    nodes.push({ name: `n${i}`, url: `nats://${addr(i)}:${client[i]}`, proc });
  }
  const urls = nodes.map((n) => n.url).join(',');
  // Ready when JetStream answers with a meta leader: a stream with 3 replicas can be created.
  await check(
    async () => {
      try {
        const nc = await connect({ servers: nodes[0].url, timeout: 500 });
        try {
          const jsm = await jetstreamManager(nc);
          await jsm.streams.add({ name: 'CLUSTER_PROBE', subjects: ['probe.cluster'], num_replicas: size });
          await jsm.streams.delete('CLUSTER_PROBE');
          return true;
        } finally {
          await nc.close();
        }
      } catch {
        return false;
      }
    },
    30_000,
    'the JetStream cluster to elect a leader',
  );
  return {
    nodes,
    urls,
    kill: (i) => nodes[i].proc.kill('SIGKILL'),
    async stop() {
      for (const n of nodes) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGTERM');
      await Promise.all(nodes.map((n) => (n.proc.exitCode === null && n.proc.signalCode === null ? new Promise((r) => n.proc.once('exit', r)) : undefined)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
