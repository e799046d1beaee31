// The snapshot format (wasm64-instance-snapshot/1): an instance's state as the API hands it out and takes it back.
import { ServiceError } from '../../errors.js';
import { SNAPSHOT_FORMAT } from '../../schemas/instance.js';
import type { InstanceCreate, SnapshotView } from '../../schemas/instance.js';
import type { PackedState } from '../../worker/instance-protocol.js';
import type { InstanceRecord } from './record.js';

/** What a snapshot fixes: a creation from one may not set these too. */
const SNAPSHOT_FIXES = ['wasi', 'init', 'memory_limit', 'fuel'] as const;

/** Throws WASM64_INSTANCE_CONFLICT when a creation from a snapshot also sets what the snapshot fixes. */
export function checkSnapshotAlone(body: InstanceCreate): void {
  const fixed = SNAPSHOT_FIXES.find((f) => body[f] !== undefined);
  if (fixed !== undefined) throw new ServiceError('WASM64_INSTANCE_CONFLICT', `"${fixed}" comes from the snapshot; send the snapshot alone (with its module, if it is not stored)`);
}

/** The snapshot's module id as the module store writes ids (`sha256:` and lowercase hex). */
export function snapshotModuleId(snapshot: SnapshotView): string {
  return snapshot.module_id.replace(/^(?!sha256:)/, 'sha256:').toLowerCase();
}

/** The state a snapshot carries, checked; throws WASM64_INSTANCE_SNAPSHOT for memory that is not base64 or too large. */
export function stateOf(snapshot: SnapshotView, memoryLimitMax: number): PackedState {
  let memory: Uint8Array | null = null;
  if (snapshot.memory !== null) {
    if (snapshot.memory.length % 4 === 1 || !/^[A-Za-z0-9+/]*={0,2}$/.test(snapshot.memory)) throw new ServiceError('WASM64_INSTANCE_SNAPSHOT', '"memory" is not base64');
    memory = new Uint8Array(Buffer.from(snapshot.memory, 'base64'));
  }
  if (snapshot.memory_bytes > memoryLimitMax) {
    throw new ServiceError('WASM64_INSTANCE_SNAPSHOT', `the snapshot's memory (${snapshot.memory_bytes} bytes) is above MAX_MEMORY_LIMIT (${memoryLimitMax})`);
  }
  return { memory, memoryBytes: snapshot.memory_bytes, hash: snapshot.hash, globals: snapshot.globals, messages: snapshot.messages };
}

/** The snapshot format of a state of `instance`. */
export function snapshotOf(instance: InstanceRecord, state: PackedState): SnapshotView {
  return {
    format: SNAPSHOT_FORMAT,
    module_id: instance.module.id,
    memory_bytes: state.memoryBytes,
    hash: state.hash,
    compression: 'deflate',
    memory: state.memory === null ? null : Buffer.from(state.memory.buffer, state.memory.byteOffset, state.memory.byteLength).toString('base64'),
    globals: state.globals,
    messages: state.messages,
    wasi: { args: instance.setup.args, env: instance.setup.env, deterministic: instance.setup.deterministic, seed: instance.setup.seed },
    memory_limit: instance.memoryLimit,
    fuel: instance.setup.fuel,
  };
}
