// Source DDL → tables: the CREATE TABLE and ALTER TABLE … PRIMARY KEY statements that pg_dump -s, mysqldump -d,
// SQL Server Management Studio ("Script Table as CREATE") and Oracle (DBMS_METADATA.GET_DDL, SQL Developer) print.
// One tokenizer and one statement grammar serve the four dialects: they differ in identifier quoting ("x", `x`,
// [x]), in statement ends (; or GO) and in trailing storage clauses, all of which are skipped.
import { ConfigError } from '../errors.js'

export type Dialect = 'postgres' | 'mysql' | 'sqlserver' | 'oracle'

export interface SourceColumn {
  name: string
  /** The type as written, lower-case, without arguments: `character varying`, `number`, `timestamp with time zone`. */
  type: string
  /** Numeric arguments of the type (`numeric(10,2)` → [10, 2]); `*` (Oracle NUMBER(*,0)) is -1; `max` is -2. */
  args: number[]
  /** A LOB type (DMS limited LOB mode truncates them; add-before-image-columns "non-lob" leaves them out). */
  lob: boolean
}

export interface SourceTable {
  /** Schema (or MySQL database) as written in the statement; undefined when the name is not qualified. */
  schema: string | undefined
  name: string
  columns: SourceColumn[]
  primaryKey: string[]
  /** Where the table was defined, for messages: `schema.sql:12`. */
  where: string
  /**
   * Columns added by later `ALTER TABLE … ADD [COLUMN]` statements of the text, oldest first (they are in `columns`
   * too, where the statement put them): the history init uses to tell earlier file layouts (columnsFrom).
   */
  addedLater?: string[]
}

interface Token {
  kind: 'word' | 'quoted' | 'string' | 'number' | 'punct'
  text: string
  line: number
}

/** Splits SQL text into tokens, dropping comments (MySQL's /*!40101 … *\/ version comments included). */
export function tokenize(sql: string, file: string): Token[] {
  const out: Token[] = []
  let line = 1
  let i = 0
  const n = sql.length
  const fail = (what: string): never => {
    throw new ConfigError('CDC_INIT_INPUT_INVALID', `${file}:${line}: ${what}`, {
      file,
      line,
      hint: 'pass the DDL as pg_dump -s, mysqldump -d, SSMS or Oracle print it',
    })
  }
  while (i < n) {
    const c = sql[i]!
    if (c === '\n') {
      line++
      i++
    } else if (c === ' ' || c === '\t' || c === '\r' || c === '\f') i++
    else if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++
    } else if (c === '#' && (i === 0 || sql[i - 1] === '\n')) {
      while (i < n && sql[i] !== '\n') i++ // MySQL line comment
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2)
      if (end < 0) fail('a comment is not closed: expected */')
      for (let k = i; k < end; k++) if (sql[k] === '\n') line++
      i = end + 2
    } else if (c === '"' || c === '`' || c === '[') {
      const close = c === '[' ? ']' : c
      const start = line
      let text = ''
      let j = i + 1
      for (;;) {
        if (j >= n) fail(`a quoted identifier is not closed: expected ${close}`)
        if (sql[j] === close) {
          if (sql[j + 1] === close) {
            text += close
            j += 2
            continue
          }
          break
        }
        if (sql[j] === '\n') line++
        text += sql[j]
        j++
      }
      out.push({ kind: 'quoted', text, line: start })
      i = j + 1
    } else if (c === "'") {
      const start = line
      let j = i + 1
      let text = ''
      for (;;) {
        if (j >= n) fail("a string literal is not closed: expected '")
        if (sql[j] === "'") {
          if (sql[j + 1] === "'") {
            text += "'"
            j += 2
            continue
          }
          break
        }
        if (sql[j] === '\n') line++
        text += sql[j]
        j++
      }
      out.push({ kind: 'string', text, line: start })
      i = j + 1
    } else if (/[0-9]/.test(c)) {
      let j = i
      while (j < n && /[0-9.]/.test(sql[j]!)) j++
      out.push({ kind: 'number', text: sql.slice(i, j), line })
      i = j
    } else if (/[A-Za-z_@#$\u0080-\uffff]/.test(c)) {
      let j = i
      while (j < n && /[A-Za-z0-9_@#$\u0080-\uffff]/.test(sql[j]!)) j++
      out.push({ kind: 'word', text: sql.slice(i, j), line })
      i = j
    } else {
      out.push({ kind: 'punct', text: c, line })
      i++
    }
  }
  return out
}

/** Guesses the dialect from the text: it only changes what DATE means (Oracle DATE holds a time of day). */
export function detectDialect(sql: string): Dialect {
  if (/\b(VARCHAR2|NVARCHAR2|NUMBER\s*\(|SEGMENT\s+CREATION|TABLESPACE\s+"|BINARY_DOUBLE|CLOB)\b/i.test(sql))
    return 'oracle'
  if (/\[dbo\]|\bGO\s*$|\bIDENTITY\s*\(|\bNVARCHAR\b|\bCLUSTERED\b/im.test(sql)) return 'sqlserver'
  if (/`|\bENGINE\s*=|\bAUTO_INCREMENT\b/i.test(sql)) return 'mysql'
  return 'postgres'
}

const isWord = (t: Token | undefined, ...words: string[]): boolean =>
  t !== undefined && t.kind === 'word' && words.includes(t.text.toUpperCase())
const isPunct = (t: Token | undefined, p: string): boolean => t !== undefined && t.kind === 'punct' && t.text === p

/** Words that may continue a type name: `character varying`, `double precision`, `timestamp(6) with time zone`. */
const TYPE_CONTINUATION = new Set([
  'VARYING',
  'PRECISION',
  'WITHOUT',
  'WITH',
  'LOCAL',
  'TIME',
  'ZONE',
  'UNSIGNED',
  'SIGNED',
  'ZEROFILL',
  'TO',
  'SECOND',
  'DAY',
  'MONTH',
  'YEAR',
  'VARCHAR',
  'CHAR',
  'CHARACTER',
  'RAW',
])
/** Element starts inside CREATE TABLE ( … ) that are not columns. */
/** What ALTER TABLE … ADD may add besides columns and NOT_A_COLUMN (SQL Server's ADD DEFAULT … FOR c, partitions). */
const NOT_ADDED_COLUMN = new Set(['DEFAULT', 'PARTITION', 'SUBPARTITION', 'OVERFLOW', 'LOGFILE', 'FILE', 'FILEGROUP'])
const NOT_A_COLUMN = new Set([
  'CONSTRAINT',
  'PRIMARY',
  'KEY',
  'INDEX',
  'UNIQUE',
  'FOREIGN',
  'CHECK',
  'FULLTEXT',
  'SPATIAL',
  'EXCLUDE',
  'LIKE',
  'PERIOD',
  'SUPPLEMENTAL',
])
const LOB_TYPES = new Set([
  'text',
  'tinytext',
  'mediumtext',
  'longtext',
  'json',
  'jsonb',
  'xml',
  'bytea',
  'blob',
  'tinyblob',
  'mediumblob',
  'longblob',
  'clob',
  'nclob',
  'ntext',
  'image',
  'long',
  'long raw',
])

/** Every CREATE TABLE of the text, with the primary keys of later ALTER TABLE … ADD [CONSTRAINT x] PRIMARY KEY (…). */
export function parseDdl(sql: string, file: string): SourceTable[] {
  const toks = tokenize(sql, file)
  const tables: SourceTable[] = []
  const byName = new Map<string, SourceTable>()
  const fail = (t: Token | undefined, expected: string): never => {
    const line = t?.line ?? toks.at(-1)?.line ?? 1
    throw new ConfigError(
      'CDC_INIT_INPUT_INVALID',
      `${file}:${line}: expected ${expected}, got ${t ? JSON.stringify(t.text) : 'the end of the file'}`,
      { file, line, hint: 'pass the DDL as pg_dump -s, mysqldump -d, SSMS or Oracle print it' },
    )
  }
  const ident = (t: Token | undefined): string =>
    t !== undefined && (t.kind === 'word' || t.kind === 'quoted') ? t.text : fail(t, 'a name')
  /** A possibly qualified name at i: [db.]schema.name; returns the last two parts. */
  const qualified = (i: number): { schema: string | undefined; name: string; next: number } => {
    const parts = [ident(toks[i])]
    let j = i + 1
    while (isPunct(toks[j], '.')) {
      parts.push(ident(toks[j + 1]))
      j += 2
    }
    return { schema: parts.length > 1 ? parts[parts.length - 2] : undefined, name: parts[parts.length - 1]!, next: j }
  }
  /** The names in ( a [ASC|DESC] [(len)], b … ) at i. */
  const nameList = (i: number): { names: string[]; next: number } => {
    if (!isPunct(toks[i], '(')) fail(toks[i], '(')
    const names: string[] = []
    let j = i + 1
    for (;;) {
      names.push(ident(toks[j]))
      j++
      let depth = 0
      while (j < toks.length && (depth > 0 || !(isPunct(toks[j], ',') || isPunct(toks[j], ')')))) {
        if (isPunct(toks[j], '(')) depth++
        if (isPunct(toks[j], ')')) depth--
        j++
      }
      if (isPunct(toks[j], ')')) return { names, next: j + 1 }
      if (!isPunct(toks[j], ',')) fail(toks[j], ', or )')
      j++
    }
  }
  const key = (schema: string | undefined, name: string): string =>
    `${(schema ?? '').toLowerCase()}.${name.toLowerCase()}`
  let i = 0
  while (i < toks.length) {
    const t = toks[i]!
    if (isWord(t, 'CREATE') && i + 1 < toks.length) {
      let j = i + 1
      while (
        isWord(
          toks[j],
          'GLOBAL',
          'LOCAL',
          'TEMPORARY',
          'TEMP',
          'UNLOGGED',
          'OR',
          'REPLACE',
          'SHARDED',
          'DUPLICATED',
          'PRIVATE',
          'BLOCKCHAIN',
          'IMMUTABLE',
        )
      )
        j++
      if (!isWord(toks[j], 'TABLE')) {
        i = j
        continue
      }
      j++
      if (isWord(toks[j], 'IF')) j += isWord(toks[j + 1], 'NOT') ? 3 : 2
      const q = qualified(j)
      j = q.next
      if (!isPunct(toks[j], '(')) {
        i = j // CREATE TABLE … AS SELECT, PARTITION OF …: no column list to read
        continue
      }
      const table: SourceTable = {
        schema: q.schema,
        name: q.name,
        columns: [],
        primaryKey: [],
        where: `${file}:${t.line}`,
      }
      j++
      // elements separated by commas at depth 1, up to the matching )
      for (;;) {
        const start = j
        let depth = 0
        while (j < toks.length && (depth > 0 || !(isPunct(toks[j], ',') || isPunct(toks[j], ')')))) {
          if (isPunct(toks[j], '(')) depth++
          if (isPunct(toks[j], ')')) depth--
          j++
        }
        if (j >= toks.length) fail(undefined, `) closing CREATE TABLE ${q.name}`)
        element(toks.slice(start, j), table)
        if (isPunct(toks[j], ')')) break
        j++
      }
      if (table.columns.length === 0) fail(toks[j], `at least one column in CREATE TABLE ${q.name}`)
      tables.push(table)
      byName.set(key(table.schema, table.name), table)
      i = j + 1
      continue
    }
    if (isWord(t, 'ALTER') && isWord(toks[i + 1], 'TABLE')) {
      let j = i + 2
      while (isWord(toks[j], 'ONLY', 'IF', 'EXISTS')) j++
      const q = qualified(j)
      j = q.next
      // ADD [CONSTRAINT name] PRIMARY KEY [CLUSTERED|NONCLUSTERED] (cols); SQL Server may write WITH CHECK ADD
      while (isWord(toks[j], 'WITH', 'CHECK', 'NOCHECK')) j++
      const target = (): SourceTable | undefined =>
        byName.get(key(q.schema, q.name)) ?? (q.schema === undefined ? undefined : byName.get(key(undefined, q.name)))
      if (
        isWord(toks[j], 'ADD') &&
        !(
          toks[j + 1]?.kind === 'word' &&
          (NOT_A_COLUMN.has(toks[j + 1]!.text.toUpperCase()) || NOT_ADDED_COLUMN.has(toks[j + 1]!.text.toUpperCase()))
        )
      ) {
        // ADD [COLUMN] [IF NOT EXISTS] c type … [, [ADD [COLUMN]] d type …]; Oracle and MySQL: ADD [COLUMN] (c type, …)
        const table = target()
        if (table === undefined) fail(toks[i + 2], `a table created earlier in the file (ALTER TABLE ${q.name} ADD)`)
        for (;;) {
          if (isWord(toks[j], 'ADD')) j++
          if (isWord(toks[j], 'COLUMN')) j++
          if (isWord(toks[j], 'IF') && isWord(toks[j + 1], 'NOT') && isWord(toks[j + 2], 'EXISTS')) j += 3
          const listed = isPunct(toks[j], '(')
          if (listed) j++
          for (;;) {
            const start = j
            let depth = 0
            while (
              j < toks.length &&
              (depth > 0 ||
                !(
                  isPunct(toks[j], ',') ||
                  isPunct(toks[j], ')') ||
                  isPunct(toks[j], ';') ||
                  (!listed && isWord(toks[j], 'GO'))
                ))
            ) {
              if (isPunct(toks[j], '(')) depth++
              if (isPunct(toks[j], ')')) depth--
              j++
            }
            addColumn(toks.slice(start, j), table!)
            if (listed && isPunct(toks[j], ',')) {
              j++
              continue
            }
            if (listed) j++ // the closing )
            break
          }
          if (!isPunct(toks[j], ',')) break
          j++
        }
        i = j
        continue
      }
      if (isWord(toks[j], 'ADD')) {
        j++
        if (isWord(toks[j], 'CONSTRAINT')) j += 2
        if (isWord(toks[j], 'PRIMARY') && isWord(toks[j + 1], 'KEY')) {
          j += 2
          while (isWord(toks[j], 'CLUSTERED', 'NONCLUSTERED')) j++
          const list = nameList(j)
          const pkTable = target()
          if (pkTable === undefined)
            fail(toks[i + 2], `a table created earlier in the file (ALTER TABLE ${q.name} … PRIMARY KEY)`)
          pkTable!.primaryKey = list.names
          j = list.next
        }
      }
      i = j
      continue
    }
    i++
  }
  return tables

  /** A column of ALTER TABLE … ADD: at the end, or where MySQL's FIRST / AFTER c puts it. */
  function addColumn(el: Token[], table: SourceTable): void {
    element(el, table)
    const col = table.columns.pop()!
    if (table.columns.some((c) => c.name.toLowerCase() === col.name.toLowerCase()))
      fail(el[0], `a column ${table.name} does not have yet`)
    let at = table.columns.length
    for (let m = 2; m < el.length; m++) {
      if (isWord(el[m], 'FIRST')) at = 0
      if (isWord(el[m], 'AFTER')) {
        const after = ident(el[m + 1])
        const k = table.columns.findIndex((c) => c.name.toLowerCase() === after.toLowerCase())
        if (k < 0) fail(el[m + 1], `a column of ${table.name} after AFTER`)
        at = k + 1
      }
    }
    table.columns.splice(at, 0, col)
    ;(table.addedLater ??= []).push(col.name)
  }

  function element(el: Token[], table: SourceTable): void {
    if (el.length === 0) fail(undefined, `a column definition in CREATE TABLE ${table.name}`)
    const head = el[0]!
    if (head.kind === 'word' && NOT_A_COLUMN.has(head.text.toUpperCase())) {
      // [CONSTRAINT name] PRIMARY KEY [CLUSTERED] (cols)
      let k = isWord(head, 'CONSTRAINT') ? 2 : 0
      if (isWord(el[k], 'PRIMARY') && isWord(el[k + 1], 'KEY')) {
        k += 2
        while (isWord(el[k], 'CLUSTERED', 'NONCLUSTERED')) k++
        const idx = toks.indexOf(el[k]!)
        table.primaryKey = nameList(idx).names
      }
      return
    }
    const name = ident(head)
    const typeTok = el[1]
    if (typeTok === undefined || !(typeTok.kind === 'word' || typeTok.kind === 'quoted'))
      fail(typeTok ?? head, `a type for column ${name}`)
    const words = [typeTok!.text.toLowerCase()]
    const args: number[] = []
    let k = 2
    for (;;) {
      if (isPunct(el[k], '(')) {
        k++
        while (k < el.length && !isPunct(el[k], ')')) {
          const a = el[k]!
          if (a.kind === 'number') args.push(Number(a.text))
          else if (isPunct(a, '*')) args.push(-1)
          else if (isWord(a, 'MAX')) args.push(-2)
          k++
        }
        k++
      } else if (el[k]?.kind === 'quoted' && el[k]!.text === '') {
        words.push('[]') // PostgreSQL array: integer[] (the tokenizer reads [] as an empty [identifier])
        k++
      } else if (
        el[k]?.kind === 'word' &&
        TYPE_CONTINUATION.has(el[k]!.text.toUpperCase()) &&
        !(isWord(el[k], 'CHARACTER') && isWord(el[k + 1], 'SET'))
      ) {
        words.push(el[k]!.text.toLowerCase())
        k++
      } else break
    }
    const type = words.join(' ')
    table.columns.push({
      name,
      type,
      args,
      lob: LOB_TYPES.has(type) || (args[0] === -2 && /varchar|varbinary/.test(type)),
    })
    for (let m = k; m < el.length; m++)
      if (isWord(el[m], 'PRIMARY') && isWord(el[m + 1], 'KEY')) table.primaryKey = [name]
  }
}
