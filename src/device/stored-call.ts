// What a run needs beyond its function and parameters, kept with the job so that any replica can plan it again.
import type { RunInput } from './run-input.js';

/**
 * As the request gave it. The replica that runs the job plans the call again from this (resolveCall, as memory
 * mode does at submit), so the worker gets the same task in both modes; `outputLimit` is the accepting replica's.
 */
export type StoredCall = Pick<RunInput, 'wasi' | 'allocator' | 'returns'> & { outputLimit: number };
