/**
 * Checkpoints: one retained message per actor in the job's state stream (JetStream, file
 * storage, last message per subject), so an actor killed with SIGKILL and restarted continues
 * where it was. Written before the effects they record are made visible (see the time wheel).
 */
import { jetstream, jetstreamManager, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from './bus.js';
import { decode, encode, stateStreamName, subjects, type FetcherCheckpoint, type TimewheelCheckpoint } from './protocol.js';

const STREAM_NAME_IN_USE = 10058;

type Checkpoints = { timewheel: TimewheelCheckpoint; fetcher: FetcherCheckpoint };
const KINDS = { timewheel: 'tw_checkpoint', fetcher: 'fetcher_checkpoint' } as const;

async function ensureStateStream(jsm: JetStreamManager, job: string, replicas: number): Promise<void> {
  const config = {
    name: stateStreamName(job),
    num_replicas: replicas,
    subjects: [subjects.checkpoints(job)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_msgs_per_subject: 1,
  };
  try {
    await jsm.streams.add(config);
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== STREAM_NAME_IN_USE) throw err;
  }
}

export class CheckpointStore {
  private ready = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly job: string,
    private readonly replicas = 1,
  ) {}

  async load<A extends keyof Checkpoints>(actor: A): Promise<Checkpoints[A] | undefined> {
    const jsm = await jetstreamManager(this.nc);
    await this.ensure(jsm);
    const m = await jsm.streams.getMessage(stateStreamName(this.job), { last_by_subj: subjects.checkpoint(this.job, actor) }).catch(() => null);
    if (!m) return undefined;
    return decode(m.data, KINDS[actor]) as Checkpoints[A];
  }

  /** Resolves once the server has stored it. */
  async save<A extends keyof Checkpoints>(actor: A, cp: Checkpoints[A]): Promise<void> {
    if (!this.ready) await this.ensure(await jetstreamManager(this.nc));
    await jetstream(this.nc).publish(subjects.checkpoint(this.job, actor), encode(cp), { timeout: 5000 });
  }

  /** The job is over (or starts afresh): nothing to resume. */
  async clear(): Promise<void> {
    const jsm = await jetstreamManager(this.nc);
    await jsm.streams.delete(stateStreamName(this.job)).catch(() => undefined);
    this.ready = false;
  }

  private async ensure(jsm: JetStreamManager): Promise<void> {
    if (this.ready) return;
    await ensureStateStream(jsm, this.job, this.replicas);
    this.ready = true;
  }
}
