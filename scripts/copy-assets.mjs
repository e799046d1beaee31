// Finishes the build: copies the non-TypeScript files the service loads at run time (compiled wasm) from src/
// into dist/, and makes the CLI entry executable so that the package's bin runs it directly.
import { chmod, cp, readdir } from 'node:fs/promises';

for (const name of await readdir('src/wasm')) {
  if (name.endsWith('.wasm')) await cp(`src/wasm/${name}`, `dist/wasm/${name}`);
}
await chmod('dist/cli/main.js', 0o755);
