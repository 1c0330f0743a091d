// Pipeline parameters: which `{name}` placeholders a step's SQL uses, their values, and their substitution as
// quoted SQL string literals. Values are never spliced as raw text: a placeholder becomes exactly one literal.
import { addDays } from '../dates.js'
import { StepError } from '../errors.js'
import { quotedString } from '../check/duck.js'

/** The parameters cdc-apply defines itself; a `--param` of the same name overrides them. */
export const BUILTIN_PARAMS = ['lpd', 'yday', 'today', 'run_date'] as const

export const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g

/** A piece of SQL text: code, a string literal ('…', with an optional prefix such as E), a dollar-quoted string,
 *  a quoted identifier ("…") or a comment. `text` includes the quotes. */
export interface Segment {
  kind: 'code' | 'string' | 'prefixed-string' | 'dollar' | 'identifier' | 'comment'
  text: string
}

/** Splits SQL into segments the way DuckDB (and PostgreSQL) tokenise quotes and comments. Unterminated quotes and
 *  comments run to the end of the text: DuckDB reports them when it parses the statement. */
export function lexSql(sql: string): Segment[] {
  const out: Segment[] = []
  let code = ''
  const flush = (): void => {
    if (code !== '') out.push({ kind: 'code', text: code })
    code = ''
  }
  let i = 0
  while (i < sql.length) {
    const c = sql[i]!
    const next = sql[i + 1]
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i)
      const stop = end < 0 ? sql.length : end
      flush()
      out.push({ kind: 'comment', text: sql.slice(i, stop) })
      i = stop
    } else if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2)
      const stop = end < 0 ? sql.length : end + 2
      flush()
      out.push({ kind: 'comment', text: sql.slice(i, stop) })
      i = stop
    } else if (c === "'" || c === '"') {
      const stop = quoteEnd(sql, i, c)
      // A literal glued to a word (E'…', X'…', or an identifier followed by a quote) is not a plain literal.
      const prefixed = c === "'" && /[A-Za-z0-9_$]$/.test(code)
      flush()
      out.push({ kind: c === '"' ? 'identifier' : prefixed ? 'prefixed-string' : 'string', text: sql.slice(i, stop) })
      i = stop
    } else if (c === '$' && !/[A-Za-z0-9_$]$/.test(code)) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i))
      if (tag === null) {
        code += c
        i++
        continue
      }
      const end = sql.indexOf(tag[0], i + tag[0].length)
      const stop = end < 0 ? sql.length : end + tag[0].length
      flush()
      out.push({ kind: 'dollar', text: sql.slice(i, stop) })
      i = stop
    } else {
      code += c
      i++
    }
  }
  flush()
  return out
}

/** Index just past the closing quote (a doubled quote is an escaped one), or the end of the text. */
function quoteEnd(sql: string, start: number, q: string): number {
  let i = start + 1
  while (i < sql.length) {
    if (sql[i] === q) {
      if (sql[i + 1] === q) i += 2
      else return i + 1
    } else i++
  }
  return sql.length
}

/** A placeholder that is not allowed where it stands (inside a longer literal, a prefixed or dollar string). */
export interface MisplacedParam {
  name: string
  literal: string
}

export interface ParamScan {
  /** Names used, in order of first use. */
  names: string[]
  misplaced: MisplacedParam[]
}

/**
 * The placeholders of a SQL text. A placeholder is `{name}` in SQL code or a whole string literal `'{name}'`.
 * Inside comments and quoted identifiers braces are text. Anywhere else in a string (`'x{name}'`, `E'{name}'`,
 * `$${name}$$`) it is misplaced: substituting there would splice the value into a literal.
 */
export function scanParams(sql: string): ParamScan {
  const names: string[] = []
  const misplaced: MisplacedParam[] = []
  const use = (n: string): void => {
    if (!names.includes(n)) names.push(n)
  }
  for (const s of lexSql(sql)) {
    if (s.kind === 'code') for (const m of s.text.matchAll(PLACEHOLDER)) use(m[1]!)
    else if (s.kind === 'string' && wholeLiteral(s.text) !== undefined) use(wholeLiteral(s.text)!)
    else if (s.kind === 'string' || s.kind === 'prefixed-string' || s.kind === 'dollar') {
      for (const m of s.text.matchAll(PLACEHOLDER)) misplaced.push({ name: m[1]!, literal: s.text })
    }
  }
  return { names, misplaced }
}

function wholeLiteral(text: string): string | undefined {
  return /^'\{([A-Za-z_][A-Za-z0-9_]*)\}'$/.exec(text)?.[1]
}

/** How a value becomes one string literal in a SQL dialect. */
export type Quote = (value: string) => string

/** DuckDB (standard SQL): `'…'` with quotes doubled; backslashes are plain characters (check/duck.ts). */
export const quoteDuckDb: Quote = quotedString

/** Spark SQL: backslash is an escape character in literals, so both backslashes and quotes are escaped with it. */
export const quoteSpark: Quote = (v) => `'${v.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`

/**
 * Replaces every placeholder by the quoted literal of its value: `{name}` and `'{name}'` both become one literal.
 * The SQL must have been checked with scanParams (no misplaced placeholders) and every name must have a value.
 */
export function substitute(sql: string, values: Readonly<Record<string, string>>, quote: Quote): string {
  const value = (n: string): string => {
    const v = values[n]
    if (v === undefined) throw new StepError('CDC_STEP_INVALID', `parameter {${n}} has no value`)
    return quote(v)
  }
  return lexSql(sql)
    .map((s) => {
      if (s.kind === 'code') return s.text.replace(PLACEHOLDER, (_m, n: string) => value(n))
      if (s.kind === 'string') {
        const n = wholeLiteral(s.text)
        return n === undefined ? s.text : value(n)
      }
      return s.text
    })
    .join('')
}

export interface ParamContext {
  /** Values from the command line (`--param name=value`); they override built-ins and pipeline defaults. */
  user: Readonly<Record<string, string>>
  /** The pipeline's own defaults (its `params` object). */
  defaults: Readonly<Record<string, string>>
  /** The current time; run_date defaults to its UTC date. */
  now: Date
  /** The last processed date (`YYYYMMDD`) for {lpd}, called only when {lpd} is used and not given. */
  lpd: () => string
}

/**
 * The value of every name in `used`, as strings: user values, then pipeline defaults, then built-ins
 * (run_date = today's UTC date, today = run_date, yday = run_date - 1 day, lpd from the watermark).
 * Throws StepError CDC_STEP_INVALID for an invalid value of run_date; an unknown name is the caller's to report.
 */
export function resolveParams(used: readonly string[], ctx: ParamContext): Record<string, string> {
  for (const [n, v] of [...Object.entries(ctx.defaults), ...Object.entries(ctx.user)]) checkValue(n, v)
  const given = (n: string): string | undefined => ctx.user[n] ?? ctx.defaults[n]
  const runDate = given('run_date') ?? ctx.now.toISOString().slice(0, 10).replaceAll('-', '')
  if (!isDate(runDate))
    throw new StepError(
      'CDC_STEP_INVALID',
      `parameter run_date is invalid: expected a date YYYYMMDD, got ${JSON.stringify(runDate)}`,
    )
  const builtin: Record<string, () => string> = {
    run_date: () => runDate,
    today: () => runDate,
    yday: () => addDays(runDate, -1),
    lpd: ctx.lpd,
  }
  const out: Record<string, string> = {}
  for (const n of used) {
    const v = given(n) ?? builtin[n]?.()
    if (v !== undefined) out[n] = v
  }
  return out
}

/** Parameter values are any text except NUL, which no SQL literal can carry. */
export function checkValue(name: string, value: string): void {
  if (!PARAM_NAME.test(name))
    throw new StepError(
      'CDC_STEP_INVALID',
      `parameter name ${JSON.stringify(name)} is invalid: expected letters, digits and _ (not starting with a digit)`,
    )
  if (value.includes('\0'))
    throw new StepError('CDC_STEP_INVALID', `parameter {${name}} is invalid: a value cannot contain a NUL character`)
}

export function isDate(s: string): boolean {
  if (!/^\d{8}$/.test(s)) return false
  return addDays(s, 0) === s
}
