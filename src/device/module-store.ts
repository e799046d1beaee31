// Validated, described and compiled modules, addressed by the sha256 of their bytes.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ServiceError } from '../errors.js';
import { describeModule, ModuleFormatError } from '../wasm/module-info.js';
import type { ExportedFunction, ModuleInfo } from '../wasm/module-info.js';

export interface StoredModule {
  /** `sha256:<hex>` of the bytes. */
  id: string;
  info: ModuleInfo;
  compiled: WebAssembly.Module;
  size: number;
  exportsByName: ReadonlyMap<string, ExportedFunction>;
}

export function moduleId(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Validates, describes and compiles `bytes` (compiling is not executing: no wasm runs here). */
export async function prepareModule(bytes: Uint8Array): Promise<StoredModule> {
  let info: ModuleInfo;
  try {
    info = describeModule(bytes);
  } catch (err) {
    if (err instanceof ModuleFormatError) throw new ServiceError('WASM64_BAD_REQUEST', `invalid module: ${err.message}`);
    throw err;
  }
  const compiled = await WebAssembly.compile(bytes);
  return {
    id: moduleId(bytes),
    info,
    compiled,
    size: bytes.length,
    exportsByName: new Map(info.exports.map((e) => [e.name, e])),
  };
}

/** The device's embedded memory64 module (src/wasm/default-module.wat). */
export async function loadDefaultModule(): Promise<StoredModule> {
  const bytes = await readFile(new URL('../wasm/default-module.wasm', import.meta.url));
  return prepareModule(new Uint8Array(bytes));
}
