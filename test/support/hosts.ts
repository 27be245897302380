/**
 * Several test hosts on this machine, for what crosses a network: each host is a network
 * namespace joined to a private bridge by a veth link, with its own address; the bridge holds
 * an address in the machine's own namespace, so servers started by the test (nats-server, HTTP
 * targets) listen there and every host reaches them. A host's link can be cut and healed on
 * command, both ways (the link goes down) or one way (nftables drops what it sends or receives).
 *
 *   await using net = await testNet(['r1', 'tw']);   // undefined reason → skip the test
 *   const p = startHavok([...], {}, { netns: net.host('r1').ns });
 *   await net.host('r1').cut(); ... await net.host('r1').heal();
 *
 * Needs root and iproute2 (CI runs as root); `netnsUnavailable()` says why not, so a test can
 * skip with that message instead of failing. Test support, not product code.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type CutDirection = 'both' | 'in' | 'out';

export interface TestHost {
  readonly name: string;
  /** Network namespace name: run a process in it with `ip netns exec <ns> …`. */
  readonly ns: string;
  /** This host's address on the test network. */
  readonly ip: string;
  /** Cut the host's link: both ways (default), or only what it receives (`in`) or sends (`out`). */
  cut(direction?: CutDirection): Promise<void>;
  /** Undo every cut. */
  heal(): Promise<void>;
}

export interface TestNet extends AsyncDisposable {
  /** The machine's own address on the test network: listen here to be reachable from every host. */
  readonly hubIp: string;
  host(name: string): TestHost;
  /** Remove every namespace, link and the bridge. Idempotent. */
  close(): Promise<void>;
}

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

/** Why test hosts cannot be made here, or undefined when they can. */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root (CI runs as root)';
  const probe = `hvp${randomBytes(3).toString('hex')}`;
  try {
    await ip('netns', 'add', probe);
    await ip('netns', 'del', probe);
    return undefined;
  } catch (err) {
    return `cannot create a network namespace: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Whether one-way cuts work (nftables inside a namespace). */
export async function oneWayCutsAvailable(): Promise<boolean> {
  try {
    await run('nft', ['--version']);
    return true;
  } catch {
    return false;
  }
}

export async function testNet(names: readonly string[]): Promise<TestNet> {
  const id = randomBytes(3).toString('hex');
  // 10.<x>.<y>.0/24 from the id, so parallel suites do not share a subnet.
  const net = `10.${200 + (parseInt(id.slice(0, 2), 16) % 50)}.${parseInt(id.slice(2, 4), 16)}`;
  const bridge = `hvb${id}`;
  const made: Array<() => Promise<void>> = [];
  const hosts = new Map<string, TestHost>();
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (let undo = made.pop(); undo; undo = made.pop()) await undo().catch(() => undefined);
    })();
    return closing;
  };
  try {
    await ip('link', 'add', bridge, 'type', 'bridge');
    made.push(() => ip('link', 'del', bridge));
    await ip('addr', 'add', `${net}.1/24`, 'dev', bridge);
    await ip('link', 'set', bridge, 'up');
    for (const [i, name] of names.entries()) {
      const ns = `hv${id}-${name}`.slice(0, 30);
      const outer = `hv${id}o${i}`;
      const inner = `hv${id}i${i}`;
      const addr = `${net}.${i + 2}`;
      await ip('netns', 'add', ns);
      made.push(() => ip('netns', 'del', ns));
      await ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner);
      made.push(() => ip('link', 'del', outer));
      await ip('link', 'set', inner, 'netns', ns);
      await ip('link', 'set', outer, 'master', bridge);
      await ip('link', 'set', outer, 'up');
      await ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', inner);
      await ip('-n', ns, 'link', 'set', inner, 'up');
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
      hosts.set(name, hostOf(name, ns, addr, outer));
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    hubIp: `${net}.1`,
    host(name: string): TestHost {
      const h = hosts.get(name);
      if (!h) throw new Error(`test net: no host ${JSON.stringify(name)} (hosts: ${[...hosts.keys()].join(', ')})`);
      return h;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function hostOf(name: string, ns: string, addr: string, outer: string): TestHost {
  const nft = (...args: string[]): Promise<unknown> => run('ip', ['netns', 'exec', ns, 'nft', ...args]);
  let oneWay = false;
  return {
    name,
    ns,
    ip: addr,
    async cut(direction: CutDirection = 'both'): Promise<void> {
      if (direction === 'both') return ip('link', 'set', outer, 'down');
      // A table of our own in the host's namespace; `heal` deletes it.
      const hook = direction === 'in' ? 'input' : 'output';
      await nft('add', 'table', 'inet', 'havok_cut');
      await nft('add', 'chain', 'inet', 'havok_cut', hook, `{ type filter hook ${hook} priority 0; }`);
      // Loopback stays: processes on the host still talk to each other.
      await nft('add', 'rule', 'inet', 'havok_cut', hook, direction === 'in' ? 'iifname != "lo" drop' : 'oifname != "lo" drop');
      oneWay = true;
    },
    async heal(): Promise<void> {
      await ip('link', 'set', outer, 'up');
      if (oneWay) {
        await nft('delete', 'table', 'inet', 'havok_cut').catch(() => undefined);
        oneWay = false;
      }
    },
  };
}
