// Drives an instance of an instrumented module: gives it its fuel, runs its start function, reads why it stopped.
import { Status } from './instrument.js';
import type { Instrumentation } from './instrument.js';

export type LimitCode = 'WASM64_FUEL_EXHAUSTED' | 'WASM64_MEMORY_LIMIT';

export interface InstrumentedInstance {
  /** Runs the module's own start function (the rewriter moved it out of instantiation). */
  start(): void;
  /** Units consumed so far; null when the module is not metered. */
  fuelUsed(): number | null;
  /** The limit the module hit, when its trap was one the rewriter planted; null for any other trap. */
  limitHit(): LimitCode | null;
}

function global(instance: WebAssembly.Instance, name: string): WebAssembly.Global {
  const value = instance.exports[name];
  if (!(value instanceof WebAssembly.Global)) throw new TypeError(`the instrumented module does not export the global "${name}"`);
  return value;
}

/** Binds `instance` to its limits; with `fuel`, sets the module's fuel global (a module built with fuel needs it). */
export function bindInstrumented(instance: WebAssembly.Instance, instrumentation: Instrumentation, fuel: number | null): InstrumentedInstance {
  const status = global(instance, instrumentation.status);
  const fuelGlobal = instrumentation.fuel === null ? null : global(instance, instrumentation.fuel);
  const granted = fuel ?? 0;
  if (fuelGlobal !== null) fuelGlobal.value = BigInt(granted);
  return {
    start() {
      if (instrumentation.start === null) return;
      const start = instance.exports[instrumentation.start];
      if (typeof start === 'function') start();
    },
    fuelUsed() {
      if (fuelGlobal === null) return null;
      if (status.value === Status.fuelExhausted) return granted;
      return granted - Number(fuelGlobal.value);
    },
    limitHit() {
      switch (status.value) {
        case Status.fuelExhausted:
          return 'WASM64_FUEL_EXHAUSTED';
        case Status.memoryLimit:
          return 'WASM64_MEMORY_LIMIT';
        default:
          return null;
      }
    },
  };
}
