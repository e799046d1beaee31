// Makes memory64 available to this process: native on Node 24, behind a V8 flag on Node 20.
import { setFlagsFromString } from 'node:v8';

/** `(module (memory i64 0))`: validates only where memory64 is enabled. */
const MEMORY64_PROBE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x04, 0x00]);

/**
 * Enables memory64 if this V8 knows it only behind `--experimental-wasm-memory64` (the flag cannot go
 * in a worker's execArgv, so every thread that compiles calls this first). Returns whether it is on.
 */
export function enableMemory64(): boolean {
  if (WebAssembly.validate(MEMORY64_PROBE)) return true;
  setFlagsFromString('--experimental-wasm-memory64');
  return WebAssembly.validate(MEMORY64_PROBE);
}
