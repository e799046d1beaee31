// Exports a module's unexported mutable globals, so that an instance's snapshot can read and restore them
// (JavaScript reaches a global only through an export: C's __stack_pointer, AssemblyScript's heap offset).
import { BinaryReader, ModuleFormatError } from './binary-reader.js';
import { BinaryWriter } from './binary-writer.js';
import { skipValueType } from './instructions.js';
import { appendEntries, assemble, countImports, readSections } from './instrument.js';

/** The prefix of the names given to globals exported this way; the index follows. */
export const GLOBAL_EXPORT_PREFIX = '__wasm64_global_';

const NUMBER_TYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c]); // i32 i64 f32 f64

/** Skips a constant expression up to its `end`: the constants, global.get, ref.null/ref.func and extended-const arithmetic. */
export function skipConstExpr(r: BinaryReader): void {
  for (;;) {
    const op = r.byte();
    switch (op) {
      case 0x0b:
        return;
      case 0x41:
      case 0x42:
        r.skipLeb();
        break;
      case 0x43:
        r.skip(4);
        break;
      case 0x44:
        r.skip(8);
        break;
      case 0x23:
      case 0xd2:
        r.u32();
        break;
      case 0xd0:
        r.s33();
        break;
      case 0xfd:
        r.u32();
        r.skip(16);
        break;
      case 0x6a: case 0x6b: case 0x6c: case 0x7c: case 0x7d: case 0x7e:
        break;
      default:
        throw new ModuleFormatError(`unsupported instruction 0x${op.toString(16)} in a global's initialiser`);
    }
  }
}

/** Indexes of every global the module exports. */
function exportedGlobals(bytes: Uint8Array, section: { start: number } | undefined): Set<number> {
  const indexes = new Set<number>();
  if (section === undefined) return indexes;
  const r = new BinaryReader(bytes, section.start);
  for (let n = r.u32(); n > 0; n--) {
    r.name();
    const kind = r.byte();
    const index = r.u32();
    if (kind === 0x03) indexes.add(index);
  }
  return indexes;
}

/**
 * `bytes` with an export `__wasm64_global_<index>` added for each mutable i32, i64, f32 or f64 global the
 * module defines and does not export; the bytes themselves when there is none. Names already taken are
 * left alone (that global stays unexported). Throws ModuleFormatError for a layout it cannot read.
 */
export function exportMutableGlobals(bytes: Uint8Array): { bytes: Uint8Array; added: string[] } {
  const sections = readSections(bytes);
  const find = (id: number): { id: number; start: number; end: number } | undefined => sections.find((s) => s.id === id);
  const globalSection = find(6);
  if (globalSection === undefined) return { bytes, added: [] };
  const first = countImports(bytes, find(2)).globals;
  const exported = exportedGlobals(bytes, find(7));
  const taken = new Set<string>();
  const exportSection = find(7);
  if (exportSection !== undefined) {
    const r = new BinaryReader(bytes, exportSection.start);
    for (let n = r.u32(); n > 0; n--) {
      taken.add(r.name());
      r.byte();
      r.u32();
    }
  }
  const r = new BinaryReader(bytes, globalSection.start);
  const added: string[] = [];
  const entries: Uint8Array[] = [];
  for (let i = 0, n = r.u32(); i < n; i++) {
    const type = r.bytes[r.offset] ?? 0;
    skipValueType(r);
    const mutable = r.byte() === 0x01;
    skipConstExpr(r);
    const index = first + i;
    const name = `${GLOBAL_EXPORT_PREFIX}${index}`;
    if (!mutable || !NUMBER_TYPES.has(type) || exported.has(index) || taken.has(name)) continue;
    added.push(name);
    entries.push(new BinaryWriter().name(name).byte(0x03).uleb(index).finish());
  }
  if (entries.length === 0) return { bytes, added };
  const replaced = new Map<number, Uint8Array | null>([[7, appendEntries(bytes, exportSection, entries)]]);
  const addedSections = new Map([...replaced].filter(([id]) => find(id) === undefined));
  return { bytes: assemble(bytes, sections, replaced, addedSections), added };
}
