// Worker of the naive Piscina ceiling: a fresh instance per task, as the service does.
import { enableMemory64 } from '../../dist/wasm/features.js';

enableMemory64();
export default function run({ module, function: name, parameters }) {
  return new WebAssembly.Instance(module, {}).exports[name](...parameters);
}
