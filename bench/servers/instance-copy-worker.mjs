// The copying design an instance could have had (AO's loader does this): a Piscina worker gets the process's
// whole memory with each message, as a transferred ArrayBuffer, instantiates the module, copies the memory
// in, calls handle, copies the memory out and transfers it back. Same module, WASI and convention as a live
// instance, so the only difference measured is where the memory lives.
import { move } from 'piscina';
import { enableMemory64 } from '../../dist/wasm/features.js';
import { placeParameters, placement } from '../../dist/wasm/memory-io.js';
import { WASI_MODULE } from '../../dist/wasm/wasi/abi.js';
import { createWasi } from '../../dist/wasm/wasi/preview1.js';

enableMemory64();

/** Bytes after the memory in the buffer that travels: the i64 globals named by the task, then the answer's pointer. */
export const trailerBytes = (globals) => 8 * (globals.length + 1);

export default function handle({ module, state, bytes, globals, messages, message, env }) {
  const wasi = createWasi({ args: ['main.wasm'], env: {}, stdin: new Uint8Array(0), outputLimit: 4096, deterministic: true, seed: `0:${messages}` });
  const instance = new WebAssembly.Instance(module, { [WASI_MODULE]: wasi.imports });
  const mem = instance.exports.memory;
  const have = mem.buffer.byteLength;
  if (bytes > have) {
    try {
      mem.grow((bytes - have) / 65536);
    } catch {
      mem.grow(BigInt((bytes - have) / 65536));
    }
  }
  new Uint8Array(mem.buffer).set(new Uint8Array(state, 0, bytes)); // copy in
  const trailer = new BigInt64Array(state, bytes, globals.length + 1);
  globals.forEach((name, i) => (instance.exports[name].value = trailer[i]));
  wasi.bind(mem, 'i64');
  const args = [0n, 0n];
  placeParameters(mem, instance.exports.malloc, 'i64', args, [placement({ string: JSON.stringify(message) }, 0), placement({ string: JSON.stringify(env) }, 1)]);
  const out = instance.exports.handle(...args);
  const size = mem.buffer.byteLength;
  const after = new ArrayBuffer(size + trailerBytes(globals));
  new Uint8Array(after).set(new Uint8Array(mem.buffer)); // copy out
  const back = new BigInt64Array(after, size, globals.length + 1);
  globals.forEach((name, i) => (back[i] = instance.exports[name].value));
  back[globals.length] = out;
  return move(after);
}
