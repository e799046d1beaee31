// A job's call on an instance: an AO message to its handle(), or a plain call, planned against the instance's module.
import { ServiceError } from '../../errors.js';
import type { RunInput } from '../run-input.js';
import type { InstanceCall } from '../../wasm/instance.js';
import { addressType, allocatorProblem, DEFAULT_ALLOCATOR } from '../../wasm/memory-io.js';
import { planParameters, resolveCall } from '../call-plan.js';
import type { ParameterEcho } from '../call-plan.js';
import type { StoredModule } from '../module-store.js';

export interface PlannedInstanceCall {
  function: string;
  call: InstanceCall;
  echo: ParameterEcho[];
}

/**
 * `message` (and `env`) become handle(msgPtr, envPtr) with both as JSON strings and the answer read back as
 * JSON; `code` or `function` is a call as in a plain run. Throws ServiceError: WASM64_CALL_CONFLICT,
 * WASM64_BAD_REQUEST, WASM64_INSTANCE_HANDLE, WASM64_MISSING_FUNCTION, and the call errors of a plain run.
 */
export function planInstanceCall(request: RunInput, module: StoredModule, outputLimit: number): PlannedInstanceCall {
  const { info } = module;
  if (request.message !== undefined || request.env !== undefined) {
    if (request.code !== undefined || request.function !== undefined || request.parameters !== undefined || request.returns !== undefined) {
      throw new ServiceError('WASM64_CALL_CONFLICT', 'send either "message" (and "env") or a call ("code", or "function" with "parameters"), not both');
    }
    if (request.message === undefined) throw new ServiceError('WASM64_BAD_REQUEST', '"env" goes with a "message"');
    const address = addressType(info);
    const handle = module.exportsByName.get('handle');
    const allocator = request.allocator ?? DEFAULT_ALLOCATOR;
    const problem = handle === undefined
      ? 'the module exports no "handle"'
      : handle.params.length !== 2 || handle.params.some((p) => p !== address) || handle.results.length !== 1 || handle.results[0] !== address
        ? `"handle" must be (${address}, ${address}) -> ${address}; it is (${handle.params.join(', ')}) -> (${handle.results.join(', ')})`
        : allocatorProblem(info, allocator);
    if (problem !== undefined || handle === undefined) throw new ServiceError('WASM64_INSTANCE_HANDLE', problem ?? 'the module exports no "handle"');
    const planned = planParameters(handle, [{ string: JSON.stringify(request.message) }, { string: JSON.stringify(request.env ?? {}) }], info, allocator);
    const call: InstanceCall = { function: 'handle', parameters: planned.parameters, placements: planned.placements, allocator, returns: { type: 'string' }, json: true };
    return { function: 'handle', call, echo: planned.echo };
  }
  if (request.code === undefined && request.function === undefined) throw new ServiceError('WASM64_MISSING_FUNCTION', 'send "message", or a call: "code", or "function" with "parameters"');
  const resolved = resolveCall(request, module, outputLimit);
  const call: InstanceCall = { function: resolved.fn.name, parameters: resolved.parameters };
  if (resolved.call.placements !== undefined) call.placements = resolved.call.placements;
  if (resolved.call.allocator !== undefined) call.allocator = resolved.call.allocator;
  if (resolved.call.returns !== undefined) call.returns = resolved.call.returns;
  return { function: resolved.fn.name, call, echo: resolved.echo };
}
