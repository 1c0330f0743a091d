// Regenerates the DMS-Parquet fixtures from their CSV twins (the .parquet files are committed; run this after
// editing a twin): node scripts/build-fixture-parquet.mjs
//
// Each DMS CSV object becomes one Parquet object with the same stem (LOAD00000001.csv → LOAD00000001.parquet),
// rows in file order, read the way DMS CSV must be read: no header, explicit columns and types, NULL = empty
// unquoted field, "" = empty string. Like DMS, Op and the TimestampColumnName column are UTF8 strings; data
// columns carry their source types (BIGINT → INT64, DECIMAL → DECIMAL, DATE, TIMESTAMP → TIMESTAMP_MICROS,
// BOOLEAN) and are OPTIONAL.
import { readdirSync, mkdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

// `columns`: the file's columns after Op, in order, with DuckDB types. CDC files start with Op; full-load files
// too when `includeOpForFullLoad` (DMS IncludeOpForFullLoad=true).
const JOBS = [
  {
    from: 'fixtures/cases/realistic-csv/bucket/dms/public/customers',
    to: 'fixtures/cases/realistic-parquet/bucket/dms/public/customers',
    includeOpForFullLoad: true,
    columns: {
      dms_commit_ts: 'VARCHAR',
      id: 'BIGINT',
      name: 'VARCHAR',
      city: 'VARCHAR',
      note: 'VARCHAR',
      signup_date: 'DATE',
      balance: 'DECIMAL(10,2)',
      active: 'BOOLEAN',
      last_login: 'TIMESTAMP',
      dms_change_seq: 'VARCHAR',
    },
  },
  {
    from: 'fixtures/cases/parquet-load-only/csv-twin/ref/rates',
    to: 'fixtures/cases/parquet-load-only/bucket/dms/ref/rates',
    includeOpForFullLoad: false,
    columns: {
      DMS_TIMESTAMP: 'VARCHAR',
      code: 'VARCHAR',
      rate: 'DECIMAL(12,6)',
      valid_from: 'DATE',
    },
  },
  {
    // init's Parquet input (fixtures/init): the header-less CSV landing's customers as DMS Parquet
    from: 'fixtures/init/headerless/landing/shop/customers',
    to: 'fixtures/init/parquet/landing/shop/customers',
    includeOpForFullLoad: true,
    columns: {
      dms_commit_ts: 'VARCHAR',
      id: 'INTEGER',
      name: 'VARCHAR',
      city: 'VARCHAR',
      balance: 'DECIMAL(10,2)',
      signup_at: 'TIMESTAMP',
      dms_change_seq: 'VARCHAR',
      BI_id: 'INTEGER',
    },
  },
]

const sqlString = (s) => `'${s.replaceAll("'", "''")}'`

const instance = await DuckDBInstance.create(':memory:', {
  threads: '1',
  autoinstall_known_extensions: 'false',
  autoload_known_extensions: 'false',
  allow_community_extensions: 'false',
})
const conn = await instance.connect()
try {
  await conn.run('SET preserve_insertion_order = true')
  for (const job of JOBS) {
    const from = join(root, job.from)
    const to = join(root, job.to)
    rmSync(to, { recursive: true, force: true })
    mkdirSync(to, { recursive: true })
    for (const name of readdirSync(from)
      .filter((n) => n.endsWith('.csv'))
      .sort()) {
      const hasOp = !name.startsWith('LOAD') || job.includeOpForFullLoad
      const types = { ...(hasOp ? { Op: 'VARCHAR' } : {}), ...job.columns }
      const columns = `{${Object.entries(types)
        .map(([n, t]) => `${sqlString(n)}: ${sqlString(t)}`)
        .join(', ')}}`
      const src = join(from, name)
      const dst = join(to, name.replace(/\.csv$/, '.parquet'))
      await conn.run(`COPY (
          SELECT * FROM read_csv(${sqlString(src)}, columns = ${columns}, header = false, auto_detect = false,
            delim = ',', quote = '"', escape = '"', new_line = '\\n', nullstr = '', allow_quoted_nulls = false,
            strict_mode = true, parallel = false)
        ) TO ${sqlString(dst)} (FORMAT parquet, COMPRESSION uncompressed)`)
      const check = await conn.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM read_parquet(${sqlString(dst)})`)
      console.log(`${job.to}/${name.replace(/\.csv$/, '.parquet')}: ${check.getRowObjects()[0].n} rows`)
    }
  }
} finally {
  conn.closeSync()
  instance.closeSync()
}
