// Copies the non-TypeScript files the service loads at run time (compiled wasm) from src/ into dist/.
import { cp, readdir } from 'node:fs/promises';

for (const name of await readdir('src/wasm')) {
  if (name.endsWith('.wasm')) await cp(`src/wasm/${name}`, `dist/wasm/${name}`);
}
