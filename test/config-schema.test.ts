// cdc-apply.schema.json is generated from the key tables the parser validates with: the committed file must equal
// the generated one, every fixture and example config must validate against it, and the parser's key lists and
// enumerations are the tables' (a key the parser accepts is a key the schema knows).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { configSchema } from '../src/config-schema.js'
import { parseConfig } from '../src/config.js'
import { validate } from './helpers/json-schema.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const committed = JSON.parse(readFileSync(join(root, 'cdc-apply.schema.json'), 'utf8')) as Record<string, unknown>

function configs(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    if (statSync(p).isDirectory()) return n === 'expected' ? [] : configs(p)
    return n === 'cdc-apply.json' || (dir.endsWith(join('docs', 'examples')) && n.endsWith('.json')) ? [p] : []
  })
}

test('the committed cdc-apply.schema.json is the one generated from src/config-keys.ts (npm run schema)', () => {
  assert.deepEqual(committed, JSON.parse(JSON.stringify(configSchema())))
})

test('every fixture and example config that the parser accepts validates against the schema', () => {
  const files = [...configs(join(root, 'fixtures')), ...configs(join(root, 'docs', 'examples'))]
  assert.ok(files.length >= 10, `found ${files.length} configs`)
  for (const f of files) {
    const json = JSON.parse(readFileSync(f, 'utf8')) as unknown
    parseConfig(json, dirname(f)) // they are all valid configs
    assert.deepEqual(validate(committed, json), [], f)
  }
})

test('the schema refuses what the parser refuses by shape: unknown keys, wrong enums, wrong types, missing keys', () => {
  const base = {
    landing: 'l',
    raw: 'r',
    curated: 'c',
    state: 's.sqlite',
    source: 'S',
    tables: [{ name: 't', path: 'a/t', columns: [{ name: 'id', type: 'Integer' }], primaryKey: ['id'] }],
  }
  assert.deepEqual(validate(committed, base), [])
  parseConfig(base, '/tmp')
  const bad: [unknown, RegExp][] = [
    [{ ...base, pollSecond: 5 }, /\$\.pollSecond: unknown key/],
    [{ ...base, parquet: { compression: 'lz4' } }, /\$\.parquet\.compression: not one of/],
    [{ ...base, concurrency: { tables: 0 } }, /\$\.concurrency\.tables: below 1/],
    [{ ...base, state: 's3://b/state.sqlite' }, /\$\.state: does not match/],
    [{ ...base, landing: 's3://B' }, /\$\.landing: does not match/],
    [
      { ...base, tables: [{ ...base.tables[0], columns: [{ name: 'id', type: 'int' }] }] },
      /\$\.tables\[0\]\.columns\[0\]\.type: does not match/,
    ],
    [{ ...base, tables: [{ ...base.tables[0], primaryKey: [] }] }, /\$\.tables\[0\]\.primaryKey: fewer than 1 items/],
    [
      { ...base, tables: [{ name: 't', columns: [{ name: 'id' }], primaryKey: ['id'] }] },
      /\$\.tables\[0\]\.path: required/,
    ],
  ]
  for (const [json, re] of bad) {
    assert.match(validate(committed, json).join('\n'), re)
    assert.throws(
      () => parseConfig(json, '/tmp'),
      (e: Error & { code?: string }) => e.code === 'CDC_CONFIG_INVALID',
    )
  }
})
