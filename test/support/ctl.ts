/**
 * `havok ctl <op> --json` as a process, as a user runs it, against a fixture's nats-server.
 */
import assert from 'node:assert/strict';
import type { ControlReplyMsg, JobView } from '../../shared/protocol.js';
import type { HavokFixture } from './fixture.js';

export async function ctl(fx: Pick<HavokFixture, 'run' | 'nats'>, job: string, ...args: string[]): Promise<{ code: number; view: JobView; reply: ControlReplyMsg }> {
  const res = await fx.run(['ctl', ...args, '--job', job, '--nats', fx.nats.url, '--json']);
  assert.ok(res.stdout.length > 0, `havok ctl ${args.join(' ')} printed nothing:\n${res.stderr}`);
  const reply = JSON.parse(res.stdout) as ControlReplyMsg;
  return { code: res.code, view: reply.view, reply };
}
