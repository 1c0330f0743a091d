// The config parser's small validators: each names the JSON path, what was expected and what was found, and
// throws CDC_CONFIG_INVALID with that text ("config $.tables[0].primaryKey is invalid: expected ..., got ...").
import { ConfigError } from './errors.js'

export type Obj = Record<string, unknown>

const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.$-]*$/

export function invalid(path: string, expected: string, got: string): ConfigError {
  return new ConfigError('CDC_CONFIG_INVALID', `config ${path} is invalid: expected ${expected}, got ${got}`, {
    hint: 'see docs/config.md',
  })
}

export function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') return 'an object'
  return `${typeof v} ${JSON.stringify(v)}`
}

export function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(path, 'an object', describe(v))
  return v as Obj
}

export function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw invalid(path, 'an array', describe(v))
  return v
}

export function str(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0) throw invalid(path, 'a non-empty string', describe(v))
  return v
}

export function location(v: unknown, path: string): string {
  const s = str(v, path)
  if (s.startsWith('s3://') && !/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(s))
    throw invalid(path, 's3://<bucket>/<prefix> with a valid bucket name', JSON.stringify(s))
  return s
}

export function safeName(v: unknown, path: string): string {
  const s = str(v, path)
  if (!SAFE_NAME.test(s) || s.includes('..'))
    throw invalid(path, 'a name of letters, digits, _ . $ - (no "/", no "..")', JSON.stringify(s))
  return s
}

export function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') throw invalid(path, 'true or false', describe(v))
  return v
}

export function posInt(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw invalid(path, 'a positive integer', describe(v))
  return v
}

export function posNum(v: unknown, path: string): number {
  if (typeof v !== 'number' || !(v > 0)) throw invalid(path, 'a positive number', describe(v))
  return v
}

export function nonNegNum(v: unknown, path: string): number {
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw invalid(path, 'a number >= 0', describe(v))
  return v
}

export function oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T {
  if (typeof v !== 'string' || !values.includes(v as T))
    throw invalid(path, `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`, describe(v))
  return v as T
}

export function known(o: Obj, path: string, keys: string[]): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k))
      throw invalid(`${path}.${k}`, `one of the keys ${keys.join(', ')}`, `unknown key ${JSON.stringify(k)}`)
  }
}

export function req<T>(o: Obj, key: string, path: string, parse: (v: unknown, p: string) => T): T {
  if (o[key] === undefined) throw invalid(`${path}.${key}`, 'a value (the key is required)', 'nothing')
  return parse(o[key], `${path}.${key}`)
}

export function opt<T>(o: Obj, key: string, path: string, parse: (v: unknown, p: string) => T): T | undefined {
  return o[key] === undefined ? undefined : parse(o[key], `${path}.${key}`)
}
