// Worker for bench/module-transfer.mjs: runs a task given either a compiled module or bytes + hash (per-worker LRU).
import { enableMemory64 } from '../dist/wasm/features.js';

enableMemory64();
const cache = new Map();
const MAX = 32;
let compiles = 0;

export default function run(task) {
  if (task.warmup) return null;
  let module = task.module;
  if (module === undefined) {
    module = cache.get(task.hash);
    if (module === undefined) {
      module = new WebAssembly.Module(task.bytes);
      compiles++;
      cache.set(task.hash, module);
      if (cache.size > MAX) cache.delete(cache.keys().next().value);
    } else {
      cache.delete(task.hash);
      cache.set(task.hash, module);
    }
  }
  const instance = new WebAssembly.Instance(module, {});
  const value = instance.exports[task.function](...task.parameters);
  return { value, compiles };
}
