// A minimal JSON Schema checker for the keywords cdc-apply.schema.json uses (type, properties, required,
// additionalProperties, items, minItems, enum, pattern, minLength, minimum, exclusiveMinimum). Returns the errors.
type Schema = Record<string, unknown>

export function validate(schema: Schema, v: unknown, path = '$'): string[] {
  const errs: string[] = []
  const type = schema.type as string | undefined
  const is = (t: string): boolean =>
    t === 'object'
      ? typeof v === 'object' && v !== null && !Array.isArray(v)
      : t === 'array'
        ? Array.isArray(v)
        : t === 'integer'
          ? Number.isInteger(v)
          : typeof v === t
  if (type !== undefined && !is(type)) return [`${path}: expected ${type}`]
  if (schema.enum !== undefined && !(schema.enum as unknown[]).includes(v))
    errs.push(`${path}: not one of ${JSON.stringify(schema.enum)}`)
  if (typeof v === 'string') {
    if (typeof schema.minLength === 'number' && v.length < schema.minLength)
      errs.push(`${path}: shorter than ${schema.minLength}`)
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(v))
      errs.push(`${path}: does not match ${schema.pattern}`)
  }
  if (typeof v === 'number') {
    if (typeof schema.minimum === 'number' && v < schema.minimum) errs.push(`${path}: below ${schema.minimum}`)
    if (typeof schema.exclusiveMinimum === 'number' && v <= schema.exclusiveMinimum)
      errs.push(`${path}: not above ${schema.exclusiveMinimum}`)
  }
  if (Array.isArray(v)) {
    if (typeof schema.minItems === 'number' && v.length < schema.minItems)
      errs.push(`${path}: fewer than ${schema.minItems} items`)
    if (schema.items) v.forEach((x, i) => errs.push(...validate(schema.items as Schema, x, `${path}[${i}]`)))
  }
  if (is('object') && type === 'object') {
    const o = v as Record<string, unknown>
    const props = (schema.properties ?? {}) as Record<string, Schema>
    for (const r of (schema.required as string[] | undefined) ?? [])
      if (o[r] === undefined) errs.push(`${path}.${r}: required`)
    for (const [k, x] of Object.entries(o)) {
      if (props[k]) errs.push(...validate(props[k], x, `${path}.${k}`))
      else if (schema.additionalProperties === false) errs.push(`${path}.${k}: unknown key`)
      else if (typeof schema.additionalProperties === 'object')
        errs.push(...validate(schema.additionalProperties as Schema, x, `${path}.${k}`))
    }
  }
  return errs
}
