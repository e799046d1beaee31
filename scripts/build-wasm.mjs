// Compiles every WAT source that has a committed binary (src/wasm, test/fixtures) to .wasm beside it.
// Run through `npm run wasm`, which builds dist/ first so this uses the service's own compiler.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compileWat } from '../dist/wasm/wat.js';

for (const dir of ['src/wasm', 'test/fixtures']) {
  for (const name of (await readdir(dir)).filter((f) => f.endsWith('.wat'))) {
    const path = join(dir, name);
    const binary = await compileWat(await readFile(path, 'utf8'), name);
    await writeFile(path.replace(/\.wat$/, '.wasm'), binary);
    console.log(`${path} -> ${binary.length} bytes`);
  }
}
