// Writes openapi.yaml from the app's own route schemas (run through `npm run openapi`).
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { openapiDocument } from '../dist/openapi.js';

await writeFile('openapi.yaml', stringify(await openapiDocument(), { lineWidth: 0 }));
console.log('openapi.yaml written');
