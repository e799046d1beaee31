// What a device takes when its options leave these out; config.ts reads its defaults from here (this file imports nothing).

export const DEVICE_DEFAULTS = {
  /** Requests that may wait for jobs at once; more are answered at once. */
  maxWaiters: 10_000,
  /** Bytes kept of a job's stdout, stderr or result read from memory. */
  outputLimit: 1 << 20,
} as const;
