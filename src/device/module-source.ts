// Turns what a request names as its module (base64 bytes, WebAssembly text, a module id, a raw wasm body, or nothing) into a source.
import { ServiceError } from '../errors.js';
import { compileWat, WatError } from '../wasm/wat.js';

export type ModuleSource =
  | { kind: 'default' }
  | { kind: 'id'; id: string }
  | { kind: 'bytes'; bytes: Uint8Array };

/** The fields of a JSON body that name a module. */
export interface ModuleFields {
  /** The wasm binary, base64 (standard or URL-safe alphabet). */
  module?: string | undefined;
  /** WebAssembly text, compiled here with every feature the engine runs. */
  wat?: string | undefined;
  /** `sha256:<hex>` (or the bare hex) of a module already in the store. */
  module_id?: string | undefined;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const MODULE_ID = /^(?:sha256:)?([0-9a-fA-F]{64})$/;

export function tooLarge(size: number, maxBytes: number): ServiceError {
  return new ServiceError('WASM64_MODULE_TOO_LARGE', `the module is ${size} bytes; the limit is ${maxBytes} (MAX_MODULE_BYTES)`);
}

/** `sha256:<lowercase hex>` for an id given with or without its prefix; undefined when it is not one. */
export function normalizeModuleId(id: string): string | undefined {
  const hex = MODULE_ID.exec(id.trim())?.[1];
  return hex === undefined ? undefined : `sha256:${hex.toLowerCase()}`;
}

function decodeBase64(text: string, maxBytes: number): Uint8Array {
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact) || compact.length % 4 === 1) {
    throw new ServiceError('WASM64_INVALID_MODULE', '"module" is not base64; send the wasm binary base64-encoded, or send it raw as application/wasm');
  }
  // Refuse by the encoded length before allocating anything for an oversized module.
  const size = Math.floor((compact.replace(/=+$/, '').length * 3) / 4);
  if (size > maxBytes) throw tooLarge(size, maxBytes);
  return new Uint8Array(Buffer.from(compact, 'base64'));
}

/**
 * The module a request names. Assumes the body was validated against its schema. Throws ServiceError:
 * WASM64_MODULE_CONFLICT when it names more than one, WASM64_INVALID_MODULE / WASM64_INVALID_WAT for bytes
 * or text that do not decode, WASM64_MODULE_TOO_LARGE beyond `maxBytes`, WASM64_MODULE_NOT_FOUND for a malformed id.
 */
export async function moduleSource(fields: ModuleFields, upload: Uint8Array | undefined, maxBytes: number): Promise<ModuleSource> {
  const named = [fields.module, fields.wat, fields.module_id, upload].filter((v) => v !== undefined).length;
  if (named > 1) {
    throw new ServiceError('WASM64_MODULE_CONFLICT', 'name the module once: "module" (base64), "wat", "module_id", or a raw application/wasm body');
  }
  if (upload !== undefined) {
    if (upload.length > maxBytes) throw tooLarge(upload.length, maxBytes);
    return { kind: 'bytes', bytes: upload };
  }
  if (fields.module !== undefined) return { kind: 'bytes', bytes: decodeBase64(fields.module, maxBytes) };
  if (fields.wat !== undefined) {
    let bytes: Uint8Array;
    try {
      bytes = await compileWat(fields.wat);
    } catch (err) {
      if (err instanceof WatError) throw new ServiceError('WASM64_INVALID_WAT', err.message);
      throw err;
    }
    if (bytes.length > maxBytes) throw tooLarge(bytes.length, maxBytes);
    return { kind: 'bytes', bytes };
  }
  if (fields.module_id !== undefined) {
    const id = normalizeModuleId(fields.module_id);
    if (id === undefined) throw new ServiceError('WASM64_MODULE_NOT_FOUND', `"${fields.module_id}" is not a module id; ids look like sha256:<64 hex digits>`);
    return { kind: 'id', id };
  }
  return { kind: 'default' };
}
