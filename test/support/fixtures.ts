// Loads a WAT fixture from test/fixtures, compiled at test time, as the device stores modules.
import { readFile } from 'node:fs/promises';
import { prepareModule } from '../../src/device/module-store.js';
import type { StoredModule } from '../../src/device/module-store.js';
import { compileWat } from '../../src/wasm/wat.js';

export async function loadFixture(name: string): Promise<StoredModule> {
  const source = await readFile(new URL(`../fixtures/${name}.wat`, import.meta.url), 'utf8');
  return prepareModule(await compileWat(source, `${name}.wat`));
}
