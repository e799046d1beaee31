// Reads what a wasm binary declares (function signatures, exports, imports, memory) from its sections.
import { BinaryReader, ModuleFormatError } from './binary-reader.js';

export { ModuleFormatError };
export type ValueType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref';

export interface FunctionSignature {
  params: ValueType[];
  results: ValueType[];
}

export interface ExportedFunction extends FunctionSignature {
  name: string;
}

export type ExternKind = 'function' | 'table' | 'memory' | 'global' | 'tag';

export interface ModuleImport {
  module: string;
  name: string;
  kind: ExternKind;
  /** The declared signature of a function import. */
  signature?: FunctionSignature;
}

export interface MemoryDescription {
  index: 'i32' | 'i64';
  /** Minimum size in 64 KiB pages. */
  min: number;
  /** Maximum size in 64 KiB pages, or null when the module declares none. */
  max: number | null;
  shared: boolean;
  /** Byte offset of the limits (flags byte) inside the binary, for rewriting the maximum. */
  limitsOffset: number;
  /** Length in bytes of the encoded limits. */
  limitsLength: number;
}

export interface ModuleInfo {
  exports: ExportedFunction[];
  imports: ModuleImport[];
  memory: MemoryDescription | null;
  /** Names of exported non-function items (memories, tables, globals). */
  otherExports: { name: string; kind: ExternKind }[];
  hasStart: boolean;
}

const VALUE_TYPES: Record<number, ValueType> = {
  0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'funcref', 0x6f: 'externref',
};
const EXTERN_KINDS: ExternKind[] = ['function', 'table', 'memory', 'global', 'tag'];

/** The section reader, plus the value types this module understands. */
class Reader extends BinaryReader {
  valueType(): ValueType {
    const code = this.byte();
    const type = VALUE_TYPES[code];
    if (type === undefined) throw new ModuleFormatError(`unsupported value type 0x${code.toString(16)}`);
    return type;
  }
}

interface Limits {
  index: 'i32' | 'i64';
  min: number;
  max: number | null;
  shared: boolean;
}

function readLimits(r: Reader): Limits {
  const flags = r.byte();
  if (flags > 0x07) throw new ModuleFormatError(`unsupported limits flags 0x${flags.toString(16)}`);
  const min = Number(r.uleb());
  const max = flags & 0x01 ? Number(r.uleb()) : null;
  return { index: flags & 0x04 ? 'i64' : 'i32', min, max, shared: (flags & 0x02) !== 0 };
}

function skipGlobalType(r: Reader): void {
  r.valueType();
  r.byte();
}

/**
 * Describes a wasm binary. Assumes nothing about validity beyond the section layout: callers
 * validate with the engine (`WebAssembly.validate`) for the rest.
 */
export function describeModule(bytes: Uint8Array): ModuleInfo {
  if (bytes.length < 8 || bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new ModuleFormatError('not a wasm binary: missing the \\0asm magic number');
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    throw new ModuleFormatError('unsupported wasm binary version (only version 1 is supported)');
  }
  const r = new Reader(bytes, 8);
  const types: FunctionSignature[] = [];
  const functionTypes: number[] = [];
  const imports: ModuleImport[] = [];
  const exportedFunctions: { name: string; index: number }[] = [];
  const otherExports: { name: string; kind: ExternKind }[] = [];
  let memory: MemoryDescription | null = null;
  let hasStart = false;

  while (!r.done) {
    const id = r.byte();
    const size = r.u32();
    const end = r.offset + size;
    if (end > bytes.length) throw new ModuleFormatError(`section ${id} runs past the end of the module`);
    switch (id) {
      case 1: {
        for (let n = r.u32(); n > 0; n--) {
          const form = r.byte();
          if (form !== 0x60) throw new ModuleFormatError(`unsupported type form 0x${form.toString(16)}`);
          const params = Array.from({ length: r.u32() }, () => r.valueType());
          const results = Array.from({ length: r.u32() }, () => r.valueType());
          types.push({ params, results });
        }
        break;
      }
      case 2: {
        for (let n = r.u32(); n > 0; n--) {
          const module = r.name();
          const name = r.name();
          const kindCode = r.byte();
          const kind = EXTERN_KINDS[kindCode];
          if (kind === undefined) throw new ModuleFormatError(`unknown import kind ${kindCode}`);
          if (kind === 'function') {
            const typeIndex = r.u32();
            const signature = types[typeIndex];
            if (signature === undefined) throw new ModuleFormatError(`import "${module}" "${name}" refers to an unknown type`);
            functionTypes.push(typeIndex);
            imports.push({ module, name, kind, signature: { params: [...signature.params], results: [...signature.results] } });
            continue;
          }
          imports.push({ module, name, kind });
          if (kind === 'table') { r.valueType(); readLimits(r); }
          else if (kind === 'memory') {
            const offset = r.offset;
            const limits = readLimits(r);
            memory ??= { ...limits, limitsOffset: offset, limitsLength: r.offset - offset };
          } else if (kind === 'global') skipGlobalType(r);
          else { r.byte(); r.u32(); }
        }
        break;
      }
      case 3:
        for (let n = r.u32(); n > 0; n--) functionTypes.push(r.u32());
        break;
      case 5: {
        for (let n = r.u32(); n > 0; n--) {
          const offset = r.offset;
          const limits = readLimits(r);
          memory ??= { ...limits, limitsOffset: offset, limitsLength: r.offset - offset };
        }
        break;
      }
      case 7: {
        for (let n = r.u32(); n > 0; n--) {
          const name = r.name();
          const kindCode = r.byte();
          const index = r.u32();
          const kind = EXTERN_KINDS[kindCode];
          if (kind === undefined) throw new ModuleFormatError(`unknown export kind ${kindCode}`);
          if (kind === 'function') exportedFunctions.push({ name, index });
          else otherExports.push({ name, kind });
        }
        break;
      }
      case 8:
        hasStart = true;
        break;
      default:
        break;
    }
    r.offset = end;
  }

  const exports = exportedFunctions.map(({ name, index }) => {
    const typeIndex = functionTypes[index];
    const signature = typeIndex === undefined ? undefined : types[typeIndex];
    if (signature === undefined) throw new ModuleFormatError(`export "${name}" refers to an unknown function`);
    return { name, params: [...signature.params], results: [...signature.results] };
  });
  return { exports, imports, memory, otherExports, hasStart };
}
