// Writes cdc-apply.schema.json from the compiled key tables: npm run schema (after editing src/config-keys.ts).
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { configSchema } from '../dist/config-schema.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
writeFileSync(join(root, 'cdc-apply.schema.json'), JSON.stringify(configSchema(), null, 2) + '\n')
console.log(join(root, 'cdc-apply.schema.json'))
