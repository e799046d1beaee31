// The limits one job runs under: its `memory_limit` and `fuel`, defaulted and capped by the configuration.
import { ServiceError } from '../errors.js';
import type { StoredModule } from './module-store.js';

export const WASM_PAGE = 65_536;

/** The configured defaults and maximums (DEFAULT_MEMORY_LIMIT, MAX_MEMORY_LIMIT, DEFAULT_FUEL, MAX_FUEL). */
export interface LimitSettings {
  memoryLimit: number;
  memoryLimitMax: number;
  /** 0: jobs that set no fuel run unmetered. */
  fuel: number;
  fuelMax: number;
}

export interface JobLimits {
  /** Bytes the job's memory may grow to. */
  memoryLimit: number;
  /** The same, in whole 64 KiB pages. */
  memoryCapPages: number;
  /** Fuel granted, or null for an unmetered job. */
  fuel: number | null;
}

export const DEFAULT_LIMITS: LimitSettings = {
  memoryLimit: 128 * 1024 * 1024,
  memoryLimitMax: 1024 * 1024 * 1024,
  fuel: 0,
  fuelMax: Number.MAX_SAFE_INTEGER,
};

/**
 * Resolves a job's limits. Throws ServiceError WASM64_LIMIT_TOO_HIGH for a limit above its maximum, and
 * WASM64_MEMORY_TOO_LARGE when the module's memory starts above the job's memory limit.
 */
export function resolveLimits(request: { memory_limit?: number | undefined; fuel?: number | undefined }, settings: LimitSettings, module: StoredModule): JobLimits {
  const memoryLimit = request.memory_limit ?? settings.memoryLimit;
  if (memoryLimit > settings.memoryLimitMax) {
    throw new ServiceError('WASM64_LIMIT_TOO_HIGH', `memory_limit may be at most ${settings.memoryLimitMax} bytes, got ${memoryLimit}`);
  }
  const fuel = request.fuel ?? (settings.fuel > 0 ? settings.fuel : null);
  if (fuel !== null && fuel > settings.fuelMax) {
    throw new ServiceError('WASM64_LIMIT_TOO_HIGH', `fuel may be at most ${settings.fuelMax}, got ${fuel}`);
  }
  const memoryCapPages = Math.floor(memoryLimit / WASM_PAGE);
  const memory = module.info.memory;
  if (memory !== null && memory.min > memoryCapPages) {
    const most = Math.floor(settings.memoryLimitMax / WASM_PAGE) * WASM_PAGE;
    throw new ServiceError(
      'WASM64_MEMORY_TOO_LARGE',
      `the module's memory starts at ${memory.min} pages (${memory.min * WASM_PAGE} bytes), above the job's memory_limit of ${memoryLimit} bytes; `
        + `send a memory_limit of at least ${memory.min * WASM_PAGE} (at most ${most})`,
    );
  }
  return { memoryLimit, memoryCapPages, fuel };
}
