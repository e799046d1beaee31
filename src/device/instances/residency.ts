// Which instances stay resident on their lanes: checkpoints that bound the journal, and evictions that bound memory.
import type { Logger } from 'pino';
import type { LaneScheduler } from './lanes.js';
import type { InstanceRecord, InstanceSettings } from './record.js';

/** Journal bytes (string and bytes parameters) beyond which a checkpoint is taken whatever the count. */
const CHECKPOINT_JOURNAL_BYTES = 16 * 1024 * 1024;

export class Residency {
  readonly #instances: ReadonlyMap<string, InstanceRecord>;
  readonly #lanes: LaneScheduler;
  readonly #settings: InstanceSettings;
  readonly #log: Logger;

  constructor(instances: ReadonlyMap<string, InstanceRecord>, lanes: LaneScheduler, settings: InstanceSettings, logger: Logger) {
    this.#instances = instances;
    this.#lanes = lanes;
    this.#settings = settings;
    this.#log = logger;
  }

  /** Instances resident on a lane, and their bytes of memory. */
  now(): { live: number; bytes: number } {
    let live = 0;
    let bytes = 0;
    for (const r of this.#instances.values()) {
      if (!r.live || r.evicting) continue;
      live++;
      bytes += r.memoryBytes;
    }
    return { live, bytes };
  }

  /** Bounds the journal (and so the time a rebuild takes): a new checkpoint every INSTANCE_CHECKPOINT_MESSAGES calls. */
  maybeCheckpoint(instance: InstanceRecord): void {
    if (instance.checkpointing || !this.#instances.has(instance.id)) return;
    if (instance.journal.length < this.#settings.checkpointMessages && instance.journalBytes < CHECKPOINT_JOURNAL_BYTES) return;
    instance.checkpointing = true;
    this.#lanes.push(instance.lane, {
      kind: 'snapshot',
      instance,
      drop: false,
      done: (r) => {
        instance.checkpointing = false;
        if (r instanceof Error) this.#log.warn({ instance: instance.id, err: r }, 'a checkpoint failed; the journal keeps growing until the next one');
      },
    });
  }

  /**
   * Keeps resident instances within MAX_LIVE_INSTANCES and MAX_LIVE_INSTANCE_BYTES by evicting the least
   * recently used idle ones to a snapshot (their checkpoint). Instances with jobs are never evicted, so the
   * bounds may be passed while every resident instance is busy; they are enforced again after each job.
   */
  enforceBounds(): void {
    let { live, bytes } = this.now();
    const { maxLive, maxLiveBytes } = this.#settings;
    if (live <= maxLive && bytes <= maxLiveBytes) return;
    const idle = [...this.#instances.values()].filter((r) => r.live && !r.evicting && r.pending === 0).sort((a, b) => a.lastUsedAt - b.lastUsedAt);
    for (const instance of idle) {
      if (live <= maxLive && bytes <= maxLiveBytes) return;
      instance.evicting = true;
      live--;
      bytes -= instance.memoryBytes;
      this.#lanes.push(instance.lane, {
        kind: 'snapshot',
        instance,
        drop: true,
        done: () => {
          instance.evicting = false;
        },
      });
    }
  }
}
