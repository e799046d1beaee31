// What a run asks the device for, in the device's own words (the route maps its HTTP body to this).
import type { MemoryParameterInput } from '../wasm/memory-io.js';
import type { ParameterInput } from '../wasm/values.js';

/** WASI options of a run: argv after argv[0], environment, stdin, and a deterministic clock and random stream. */
export interface RunWasi {
  args?: string[];
  env?: Record<string, string>;
  stdin?: string;
  stdin_base64?: boolean;
  deterministic?: boolean;
  seed?: number | string;
}

/** Read the result from memory: the function's first result is a pointer; `length` bytes, the next result, or up to NUL. */
export interface RunReturns {
  type: 'string' | 'bytes';
  length?: number | 'next';
}

/**
 * One run: a call (`code`, or `function` with `parameters`), its module (`module`, `wat`, `module_id`, or the
 * default), its limits, WASI and memory I/O; or, with `instance_id`, a call or an AO `message` to a live instance.
 */
export interface RunInput {
  code?: string;
  function?: string;
  parameters?: (ParameterInput | MemoryParameterInput)[];
  wasi?: RunWasi;
  allocator?: string;
  returns?: RunReturns;
  timeout_ms?: number;
  module?: string;
  wat?: string;
  module_id?: string;
  memory_limit?: number;
  fuel?: number;
  instance_id?: string;
  message?: unknown;
  env?: unknown;
}
