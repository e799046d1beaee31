import { describe, expect, it } from 'vitest';
import { prepareModule } from '../../src/device/module-store.js';
import { instrumentModule } from '../../src/wasm/instrument.js';
import { LiveInstance, SnapshotMismatchError } from '../../src/wasm/instance.js';
import type { InstanceCall, InstanceSetup } from '../../src/wasm/instance.js';
import { placement } from '../../src/wasm/memory-io.js';
import { enableMemory64 } from '../../src/wasm/features.js';
import { loadFixture } from '../support/fixtures.js';

enableMemory64();

const SETUP: InstanceSetup = { args: ['main.wasm'], env: {}, deterministic: true, seed: 7, addressType: 'i64', memory: 'memory', instrumentation: null, fuel: null, outputLimit: 4096 };

function message(msg: unknown, env: unknown = {}): InstanceCall {
  return {
    function: 'handle',
    parameters: [0n, 0n],
    placements: [placement({ string: JSON.stringify(msg) }, 0), placement({ string: JSON.stringify(env) }, 1)],
    allocator: 'malloc',
    returns: { type: 'string' },
    json: true,
  };
}

/** FNV-1a 64 of each string followed by a 0 byte, as the process keeps it. */
function fnv(strings: string[]): string {
  let h = 0xcbf29ce484222325n;
  for (const s of strings) {
    for (const b of [...Buffer.from(s), 0]) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  }
  return h.toString(16).padStart(16, '0');
}

describe('a live instance of the AO process fixture', () => {
  it('initialises once and keeps its state across messages', async () => {
    const module = await loadFixture('ao/process');
    const { instance, evaluation } = LiveInstance.create(module.compiled, SETUP, '_initialize');
    expect(evaluation.ok).toBe(true);
    const first = instance!.call(message({ n: 1 }, { p: 1 }));
    const second = instance!.call(message({ n: 2 }, { p: 1 }));
    expect(first).toMatchObject({ ok: true, output: { count: 1, log_bytes: 8 } });
    expect(second).toMatchObject({ ok: true, output: { count: 2, log_bytes: 16, hash: fnv(['{"n":1}', '{"p":1}', '{"n":2}', '{"p":1}']) } });
    expect(instance!.messages).toBe(2);
  });

  it('answers deterministic clock and random per message number, the same after a restore', async () => {
    const module = await loadFixture('ao/process');
    const a = LiveInstance.create(module.compiled, SETUP, '_initialize').instance!;
    const b = LiveInstance.create(module.compiled, SETUP, '_initialize').instance!;
    const outA = [1, 2, 3].map((n) => a.call(message({ n })));
    const restored = LiveInstance.restore(module.compiled, SETUP, b.capture());
    const outB = [1, 2, 3].map((n) => restored.call(message({ n })));
    expect(outB.map((e) => (e.ok ? e.output : e))).toEqual(outA.map((e) => (e.ok ? e.output : e)));
    const randoms = outA.map((e) => (e.ok ? (e.output as { random: string }).random : ''));
    expect(new Set(randoms).size).toBe(3);
    expect(outA[0]).toMatchObject({ output: { time_us: 1_704_067_200_000_001 } });
  });

  it('restores memory and exported globals exactly and carries on from there', async () => {
    const module = await loadFixture('ao/process');
    const live = LiveInstance.create(module.compiled, SETUP, '_initialize').instance!;
    for (let n = 0; n < 5; n++) live.call(message({ n }));
    live.call({ function: 'grow', parameters: [3n] });
    const state = live.capture();
    expect(state.globals.map((g) => g.name).sort()).toEqual(['heap', 'log_end']);
    const restored = LiveInstance.restore(module.compiled, SETUP, state);
    expect(restored.memoryBytes).toBe(live.memoryBytes);
    expect(Buffer.from(restored.capture().memory!).equals(Buffer.from(state.memory!))).toBe(true);
    expect(restored.call(message({ n: 5 }))).toEqual(live.call(message({ n: 5 })));
  });

  it('marks itself broken after a trap, with the state half-written', async () => {
    const module = await loadFixture('ao/process');
    const live = LiveInstance.create(module.compiled, SETUP, '_initialize').instance!;
    live.call(message({ n: 1 }));
    expect(live.call(message({ do: 'trap' }))).toMatchObject({ ok: false, code: 'WASM64_TRAP' });
    expect(live.broken).toBe(true);
    expect(live.call({ function: 'count', parameters: [] })).toMatchObject({ ok: true, results: [2n] });
  });

  it('fails a message whose answer is not JSON but keeps the state', async () => {
    const module = await prepareModule(await (await import('../../src/wasm/wat.js')).compileWat(
      '(module (memory (export "memory") 1) (global $n (export "n") (mut i32) (i32.const 0)) (data (i32.const 16) "not json\\00")'
      + ' (func (export "malloc") (param i32) (result i32) (i32.const 1024))'
      + ' (func (export "handle") (param i32 i32) (result i32) (global.set $n (i32.add (global.get $n) (i32.const 1))) (i32.const 16)))',
    ));
    const live = LiveInstance.create(module.compiled, { ...SETUP, addressType: 'i32' }, null).instance!;
    const call = { ...message({}), parameters: [0, 0] };
    expect(live.call(call)).toMatchObject({ ok: false, code: 'WASM64_INSTANCE_OUTPUT', kept: true });
    expect(live.broken).toBe(false);
    expect(live.messages).toBe(1);
    expect(live.capture().globals).toEqual([{ name: 'n', kind: 'number', value: '1' }]);
  });

  it('meters each message with the instance fuel and caps memory as a job does', async () => {
    const module = await loadFixture('ao/process');
    const { bytes, instrumentation } = instrumentModule(module.bytes, { memoryCapPages: 4, fuel: true });
    const compiled = await WebAssembly.compile(bytes);
    const setup = { ...SETUP, instrumentation, fuel: 1_000_000 };
    const live = LiveInstance.create(compiled, setup, '_initialize').instance!;
    const first = live.call(message({ n: 1 }));
    const second = live.call(message({ n: 1 }));
    expect(first.ok && second.ok).toBe(true);
    expect(first.fuelUsed).toBeGreaterThan(100);
    // Each message starts with the full grant: the second is not charged for the first.
    expect(second.fuelUsed).toBeLessThan(first.fuelUsed! * 1.5);
    expect(live.call({ function: 'grow', parameters: [10n] })).toMatchObject({ ok: false, code: 'WASM64_MEMORY_LIMIT' });
    expect(() => LiveInstance.restore(compiled, setup, { memory: new Uint8Array(8 * 65_536), globals: [], messages: 0 })).toThrow(SnapshotMismatchError);
  });
});
