// Compiles WebAssembly text to binary with wabt, with every feature the engine runs enabled.
import wabtInit from 'wabt';

type Wabt = Awaited<ReturnType<typeof wabtInit>>;
let wabt: Promise<Wabt> | undefined;

const FEATURES = {
  memory64: true,
  multi_value: true,
  mutable_globals: true,
  sat_float_to_int: true,
  sign_extension: true,
  bulk_memory: true,
  reference_types: true,
  simd: true,
  threads: true,
  exceptions: true,
  tail_call: true,
} as const;

/** Thrown when WAT text does not parse or does not validate; the message is wabt's. */
export class WatError extends Error {
  override readonly name = 'WatError';
}

/** Compiles `source` to a wasm binary. */
export async function compileWat(source: string, filename = 'module.wat'): Promise<Uint8Array> {
  wabt ??= wabtInit();
  const tools = await wabt;
  let parsed: ReturnType<Wabt['parseWat']> | undefined;
  try {
    parsed = tools.parseWat(filename, source, FEATURES);
    parsed.resolveNames();
    // wabt's typings omit validate's features argument; without it, validation checks the default features only.
    (parsed.validate as unknown as (this: typeof parsed, features: typeof FEATURES) => void).call(parsed, FEATURES);
    return new Uint8Array(parsed.toBinary({ log: false, write_debug_names: false }).buffer);
  } catch (err) {
    throw new WatError(err instanceof Error ? err.message.trim() : String(err));
  } finally {
    parsed?.destroy();
  }
}
