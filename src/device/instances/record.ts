// What the device keeps of one live instance (an AO process), and the settings that bound them all.
import type { ErrorCode } from '../../errors.js';
import type { CallEvaluation, InstanceCall, InstanceSetup } from '../../wasm/instance.js';
import type { JournalEntry, PackedState } from '../../worker/instance-protocol.js';
import type { ParameterEcho } from '../call-plan.js';
import type { Job } from '../job.js';
import type { CompiledVariant, StoredModule } from '../module-store.js';

/** MAX_INSTANCES, MAX_LIVE_INSTANCES, MAX_LIVE_INSTANCE_BYTES, INSTANCE_CHECKPOINT_MESSAGES. */
export interface InstanceSettings {
  /** Instances kept, resident or evicted to a snapshot. */
  maxInstances: number;
  /** Instances resident on lanes; beyond it the least recently used idle one is evicted. */
  maxLive: number;
  /** Bytes of memory of resident instances; beyond it, the same. */
  maxLiveBytes: number;
  /** Calls journalled since the last checkpoint before a new checkpoint is taken. */
  checkpointMessages: number;
}

/** How the manager tells the device about a job's life: the device owns jobs, their store and their waiters. */
export interface InstanceJobHooks {
  /** The job got its lane's thread. */
  started(job: Job): void;
  /** The job's call ran: it completed, or failed inside the module. */
  finished(job: Job, evaluation: CallEvaluation, durationMs: number): void;
  /** The job ends without an evaluation: timed out, its thread died, its instance was lost or deleted. */
  ended(job: Job, status: 'failed' | 'cancelled', code: ErrorCode, message: string): void;
}

export interface InstanceRecord {
  id: string;
  module: StoredModule;
  variant: CompiledVariant;
  setup: InstanceSetup;
  memoryLimit: number;
  init: string | null;
  lane: number;
  createdAt: number;
  lastUsedAt: number;
  /** The device believes its lane's thread holds it. */
  live: boolean;
  evicting: boolean;
  checkpointing: boolean;
  memoryBytes: number;
  messages: number;
  /** The last good state kept here: with the journal, what rebuilds the instance. */
  checkpoint: PackedState;
  /** Calls completed since the checkpoint, in order. */
  journal: JournalEntry[];
  journalBytes: number;
  /** Its jobs waiting or running. */
  pending: number;
}

/** A job's call resolved against its instance. */
export interface AdmittedCall {
  instance: InstanceRecord;
  function: string;
  call: InstanceCall;
  echo: ParameterEcho[];
}

/** What a call adds to its instance's journal, in bytes (string and bytes parameters dominate). */
export function callBytes(call: InstanceCall): number {
  return 64 + (call.placements ?? []).reduce((n, p) => n + p.data.length, 0);
}

/** Records a completed call in the journal that rebuilds the instance from its checkpoint. */
export function journal(instance: InstanceRecord, index: number, call: InstanceCall): void {
  instance.journal.push({ index, call });
  instance.journalBytes += callBytes(call);
}

/** `state` is the instance's new last good state: the journal keeps only the calls after it. */
export function checkpoint(instance: InstanceRecord, state: PackedState): void {
  instance.checkpoint = state;
  instance.journal = instance.journal.filter((e) => e.index >= state.messages);
  instance.journalBytes = instance.journal.reduce((n, e) => n + callBytes(e.call), 0);
}
