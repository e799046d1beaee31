// One job, one thread: enables memory64, runs the job it is posted, answers, and is terminated.
import { parentPort } from 'node:worker_threads';
import { enableMemory64 } from '../../dist/wasm/features.js';

enableMemory64();
parentPort.once('message', ({ module, function: name, parameters }) => {
  parentPort.postMessage(new WebAssembly.Instance(module, {}).exports[name](...parameters));
});
