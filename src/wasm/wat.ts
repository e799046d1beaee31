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
    parsed.validate();
    return new Uint8Array(parsed.toBinary({ log: false, write_debug_names: false }).buffer);
  } catch (err) {
    throw new WatError(err instanceof Error ? err.message.trim() : String(err));
  } finally {
    parsed?.destroy();
  }
}
