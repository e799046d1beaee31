import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../src/errors.js';

describe('README.md', () => {
  it('documents every error code', async () => {
    const readme = await readFile('README.md', 'utf8');
    const missing = Object.keys(ERRORS).filter((code) => !readme.includes(`| \`${code}\` |`));
    expect(missing).toEqual([]);
  });
});
