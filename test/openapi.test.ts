import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { openapiDocument } from '../src/openapi.js';

describe('openapi.yaml', () => {
  it('equals the document generated from the route schemas (regenerate with npm run openapi)', async () => {
    const committed: unknown = parse(await readFile('openapi.yaml', 'utf8'));
    expect(committed).toEqual(JSON.parse(JSON.stringify(await openapiDocument())));
  });
});
