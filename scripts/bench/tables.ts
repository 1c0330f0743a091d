// `npm run bench -- --cases tables`: many tables in one process, on folders and on MinIO. Generates N tables of
// R rows (a full load and one change file each), then runs scripts/bench/tables-child.ts per landing kind.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface TablesOptions {
  work: string
  tables: number
  rows: number
  changed: number
  log: (s: string) => void
}

const here = fileURLToPath(new URL('.', import.meta.url))

function generate(landing: string, tables: number, rows: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  for (let t = 0; t < tables; t++) {
    const name = `t${String(t).padStart(4, '0')}`
    const dir = join(landing, 'app', name)
    mkdirSync(dir, { recursive: true })
    const load: string[] = []
    for (let i = 0; i < rows; i++)
      load.push(
        `I,2024-06-10 08:00:00.${String(i % 1_000_000).padStart(6, '0')},${i},name ${i},${(i * 1.25).toFixed(2)}`,
      )
    writeFileSync(join(dir, 'LOAD00000001.csv'), load.join('\n') + '\n')
    const cdc: string[] = []
    for (let i = 0; i < 50; i++)
      cdc.push(
        i % 10 === 9
          ? `D,2024-06-11 09:00:00.${String(i).padStart(6, '0')},${(i * 13) % rows},,`
          : `U,2024-06-11 09:00:00.${String(i).padStart(6, '0')},${(i * 13) % rows},upd ${i},${i}.50`,
      )
    writeFileSync(join(dir, '20240611-090100000.csv'), cdc.join('\n') + '\n')
    out.push({
      name,
      path: `app/${name}`,
      includeOpForFullLoad: true,
      columns: [
        { name: 'ts', type: 'timestamp' },
        { name: 'id', type: 'integer' },
        { name: 'name' },
        { name: 'amount', type: 'decimal(12,2)' },
      ],
      primaryKey: ['id'],
      timestampColumn: 'ts',
    })
  }
  return out
}

function child(args: object): Record<string, unknown> {
  const r = spawnSync(process.execPath, [join(here, 'tables-child.js'), JSON.stringify(args)], {
    encoding: 'utf8',
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    maxBuffer: 1 << 26,
  })
  if (r.status !== 0) throw new Error(`tables bench child failed: ${r.stderr.slice(-3000)}`)
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>
}

export async function runTablesCase(o: TablesOptions): Promise<Record<string, unknown>> {
  const base = join(o.work, 'tables')
  rmSync(base, { recursive: true, force: true })
  const landing = join(base, 'landing')
  o.log(`tables: generating ${o.tables} tables of ${o.rows} rows in ${landing}`)
  const tables = generate(landing, o.tables, o.rows)
  // settleSeconds 0: the folder case reads files written moments ago (else its first run may see none of them)
  const common = { source: 'APP', settleSeconds: 0, concurrency: { tables: 2, prefetch: 4 }, tables }
  const results: Record<string, unknown> = {}
  const folderCfg = {
    ...common,
    landing: 'landing',
    raw: 'out-folder/raw',
    curated: 'out-folder/curated',
    state: 'out-folder/state.sqlite',
  }
  const newFile = '20240612-090100000.csv'
  const bin = (() => {
    try {
      return execFileSync('bash', [join(here, '..', '..', '..', 'scripts', 'build-minio.sh')], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim()
    } catch {
      return undefined
    }
  })()
  if (!bin) o.log('tables: MinIO case skipped: MinIO not built (bash scripts/build-minio.sh)')
  const { startMinio } = await import('../../test/helpers/minio.js')
  if (bin) process.env.MINIO_BIN = bin
  const minio = bin ? (await startMinio())! : undefined
  try {
    // upload first: the folder case then adds its change files to the local landing
    if (minio) {
      await minio.createBucket('bench')
      await minio.upload(landing, 'bench', 'landing')
    }
    results.folder = child({
      config: folderCfg,
      baseDir: base,
      tables: o.tables,
      changed: o.changed,
      newFile,
      landingDir: landing,
    })
    o.log(`tables folder: ${JSON.stringify(results.folder)}`)
    if (minio) {
      const s3Cfg = {
        ...common,
        landing: 's3://bench/landing',
        raw: 's3://bench/out/raw',
        curated: 's3://bench/out/curated',
        state: 'out-s3/state.sqlite',
        s3: minio.s3Options,
      }
      results.minio = child({ config: s3Cfg, baseDir: base, tables: o.tables, changed: o.changed, newFile })
      o.log(`tables MinIO: ${JSON.stringify(results.minio)}`)
    }
  } finally {
    await minio?.stop()
  }
  return results
}
