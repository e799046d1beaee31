// Reads the module a user names with --module: a wasm binary as it is, anything else as WebAssembly text.
import { readFile } from 'node:fs/promises';
import { CliError, EXIT } from './exit-codes.js';

export type ModuleSource = { kind: 'wasm'; path: string; bytes: Uint8Array } | { kind: 'wat'; path: string; text: string };

/** Every wasm binary starts with `\0asm`; the file name's extension is not trusted either way. */
const MAGIC = [0x00, 0x61, 0x73, 0x6d];

export async function readModuleFile(path: string): Promise<ModuleSource> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new CliError(`cannot read the module ${path} (${reason})`, EXIT.usage);
  }
  if (MAGIC.every((byte, i) => bytes[i] === byte)) return { kind: 'wasm', path, bytes: new Uint8Array(bytes) };
  return { kind: 'wat', path, text: bytes.toString('utf8') };
}
