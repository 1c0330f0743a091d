// cdc-apply.schema.json, generated from the key tables the config parser validates with (src/config-keys.ts).
// Regenerate with `npm run schema`; test/config-schema.test.ts fails when the committed file differs.
import { ROOT_KEYS, COLUMN_TYPE_PATTERN, type Keys, type Kind } from './config-keys.js'

type Schema = Record<string, unknown>

/** JSON Schema regexes have no flags: letters become [xX] where the parser ignores case. */
function caseless(pattern: string): string {
  return pattern.replace(/\\.|[a-z]/g, (c) => (c.length === 1 ? `[${c}${c.toUpperCase()}]` : c))
}

function kind(k: Kind, doc?: string): Schema {
  const d = doc !== undefined ? { description: doc } : {}
  switch (k.t) {
    case 'string':
      return {
        type: 'string',
        minLength: 1,
        ...(k.pattern !== undefined
          ? { pattern: k.pattern === COLUMN_TYPE_PATTERN ? caseless(k.pattern) : k.pattern }
          : {}),
        ...d,
      }
    case 'boolean':
      return { type: 'boolean', ...d }
    case 'integer':
      return { type: 'integer', minimum: 1, ...d }
    case 'number':
      return { type: 'number', ...(k.zero ? { minimum: 0 } : { exclusiveMinimum: 0 }), ...d }
    case 'enum':
      return { enum: [...k.values], ...d }
    case 'object':
      return object(k.keys, doc)
    case 'map':
      return { type: 'object', additionalProperties: kind(k.values), ...d }
    case 'array':
      return {
        type: 'array',
        items: kind(k.items),
        ...(k.minItems !== undefined ? { minItems: k.minItems } : {}),
        ...d,
      }
  }
}

function object(keys: Keys, doc?: string): Schema {
  const required = Object.entries(keys)
    .filter(([, v]) => v.required)
    .map(([n]) => n)
  return {
    type: 'object',
    ...(doc !== undefined ? { description: doc } : {}),
    properties: Object.fromEntries(Object.entries(keys).map(([n, v]) => [n, kind(v.kind, v.doc)])),
    ...(required.length > 0 ? { required } : {}),
    additionalProperties: false,
  }
}

/** The JSON Schema (draft 2020-12) of cdc-apply.json. */
export function configSchema(): Schema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'cdc-apply.schema.json',
    title: 'cdc-apply config',
    ...object(ROOT_KEYS, 'The cdc-apply config file: every key is described in docs/config.md.'),
  }
}
