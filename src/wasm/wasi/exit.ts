// proc_exit's way out of a running guest: thrown from the host call, caught by whoever started the run.

/** The guest called proc_exit(code); wasm frames unwind and the run ends with this exit code. */
export class WasiExit extends Error {
  override readonly name = 'WasiExit';
  constructor(readonly code: number) {
    super(`the program exited with code ${code}`);
  }
}

export type Exited<T> = { exited: false; value: T } | { exited: true; code: number };

/** Runs `call`, turning a proc_exit inside it into `{ exited: true, code }`; traps still throw. */
export function catchExit<T>(call: () => T): Exited<T> {
  try {
    return { exited: false, value: call() };
  } catch (err) {
    if (err instanceof WasiExit) return { exited: true, code: err.code };
    throw err;
  }
}
