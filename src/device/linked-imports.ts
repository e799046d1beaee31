// What the device links into a job's instance: WASI preview1 (in memory) and nothing else.
import { WASI_MODULE, wasiImportProblem } from '../wasm/wasi/abi.js';
import type { ImportCheck } from './module-store.js';

/** Import module name -> the check each of its imports must pass; any other import module is refused. */
export const LINKED_IMPORTS: ReadonlyMap<string, ImportCheck> = new Map([[WASI_MODULE, wasiImportProblem]]);
