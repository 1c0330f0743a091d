// Independent readers of the curated Iceberg tables: pyiceberg (StaticTable from the newest metadata file) and
// Spark 3.5 with the Iceberg runtime (HadoopCatalog, VERSION AS OF 'd<YYYYMMDD>' and the live table) read every
// golden case that succeeds and seeded oracle streams; each date tag and the live table must equal the plain
// layout's folders of the same input (test/python/iceberg_check.py compares them with pyarrow/Spark).
// The tools come from scripts/setup-pyiceberg.sh (CDC_APPLY_PYICEBERG_PYTHON), scripts/setup-pyspark.sh
// (CDC_APPLY_PYSPARK_PYTHON) and scripts/setup-iceberg-spark.sh (CDC_APPLY_ICEBERG_SPARK_JAR). Without them the
// tests skip with the reason; with CI=true they are required.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runCase, runStream, succeedingCases, type TwinRun } from './helpers/iceberg-cases.js'
import { tempDir } from './helpers/outputs.js'
import { seeds } from './helpers/random.js'

const CHECK = fileURLToPath(new URL('../../test/python/iceberg_check.py', import.meta.url))
const CI = process.env['CI'] === 'true'

const tmp = tempDir('cdc-iceberg-readers-')
test.after(tmp.remove)

/** Why a tool is unusable, or undefined when it is there. */
function missing(python: string | undefined, module: string, env: string, script: string): string | undefined {
  if (!python) return `${env} is not set (bash ${script} installs the pinned ${module} and prints the path)`
  const probe = spawnSync(python, ['-c', `import ${module}`], { encoding: 'utf8' })
  return probe.status === 0 ? undefined : `${module} is not importable by ${python} (${env}; bash ${script})`
}

let runs: Promise<TwinRun[]> | undefined
/** Every succeeding golden case and three seeded streams, in both formats (run once, shared by both readers). */
function allRuns(): Promise<TwinRun[]> {
  runs ??= (async () => {
    const out: TwinRun[] = []
    for (const name of succeedingCases()) out.push(await runCase(name, join(tmp.path, name)))
    for (const seed of seeds(3)) out.push(await runStream(seed, join(tmp.path, `seed-${seed}`)))
    // compacted often (replace snapshots between merge-on-read ones), untagged snapshots expired, orphans looked for
    // after each compaction, only the 2 newest previous metadata versions kept
    out.push(
      await runStream(
        seeds(3)[1]!,
        join(tmp.path, 'compacted'),
        { compactDeleteShare: 0.02, keepSnapshots: 1, keepMetadataVersions: 2, orphanMinAgeSeconds: 0 },
        'compacted',
      ),
    )
    return out
  })()
  return runs
}

/** Spark starts slowly and plans each query for seconds: it reads a few cases and one stream, pyiceberg all. */
const SPARK_CASES = ['daily-runs', 'design-example', 'realistic-parquet']

async function jobsFile(
  which: (r: TwinRun) => boolean = () => true,
  negative = false,
): Promise<{ file: string; count: number }> {
  const all = (await allRuns()).filter(which)
  const jobs = all.flatMap((r) =>
    r.tables.map((t) => {
      const [namespace, table] = t.split('/') as [string, string]
      return { name: `${r.name} ${t}`, warehouse: r.iceberg, namespace, table, plain: join(r.plain, namespace, table) }
    }),
  )
  // A table compared with another case's plain output must be reported as different: the check can fail.
  if (negative)
    jobs.push({
      ...jobs[0]!,
      name: 'NEGATIVE',
      plain: jobs.find((j) => j.plain !== jobs[0]!.plain && !j.name.startsWith(jobs[0]!.name.split(' ')[0]!))!.plain,
    })
  // The runs must exercise merge-on-read: some snapshot the readers see holds position-delete files.
  const withDeletes = jobs.filter((j) => {
    const dir = join(j.warehouse, j.namespace, j.table, 'metadata')
    const v = Math.max(
      ...readdirSync(dir)
        .filter((f) => /^v\d+\.metadata\.json$/.test(f))
        .map((f) => Number(/\d+/.exec(f)![0])),
    )
    const m = JSON.parse(readFileSync(join(dir, `v${v}.metadata.json`), 'utf8')) as {
      snapshots: { summary: Record<string, string> }[]
    }
    return m.snapshots.some((s) => Number(s.summary['total-delete-files'] ?? 0) > 0)
  })
  assert.ok(withDeletes.length > 0, 'no table with position deletes among the jobs')
  const compacted = jobs.filter(
    (j) =>
      j.name.startsWith('compacted') &&
      readFileSync(
        join(
          j.warehouse,
          j.namespace,
          j.table,
          'metadata',
          `v${readFileSync(join(j.warehouse, j.namespace, j.table, 'metadata', 'version-hint.text'), 'utf8')}.metadata.json`,
        ),
        'utf8',
      ).includes('"operation": "replace"'),
  )
  if (all.some((r) => r.name === 'compacted'))
    assert.ok(compacted.length > 0, 'the compacted run holds replace snapshots')
  const file = join(tmp.path, `jobs-${negative}.json`)
  writeFileSync(file, JSON.stringify(jobs))
  return { file, count: jobs.length }
}

function assertReport(stdout: string, stderr: string, status: number | null, count: number): void {
  const all = stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { name: string; checked: string[]; errors: string[] })
  assert.equal(all.length, count, `one report per table expected; stderr: ${stderr.slice(-3000)}`)
  const negative = all.filter((l) => l.name === 'NEGATIVE')
  const lines = all.filter((l) => l.name !== 'NEGATIVE')
  if (negative.length > 0) {
    assert.ok(negative[0]!.errors.length > 0, 'a table compared with another case must differ')
    assert.equal(status, 1, 'the checker exits 1 when a table differs')
  }
  for (const l of lines) {
    assert.deepEqual(l.errors, [], l.name)
    assert.ok(
      l.checked.includes('live') && l.checked.length >= 2,
      `${l.name}: the live table and at least one tag were read`,
    )
  }
  if (negative.length === 0) assert.equal(status, 0, stderr.slice(-3000))
}

test('pyiceberg reads every date tag and the live table as the plain layout holds them', async (t) => {
  const python = process.env['CDC_APPLY_PYICEBERG_PYTHON']
  const why = missing(python, 'pyiceberg', 'CDC_APPLY_PYICEBERG_PYTHON', 'scripts/setup-pyiceberg.sh')
  if (why !== undefined) {
    if (CI) assert.fail(`required in CI: ${why}`)
    return t.skip(why)
  }
  const { file, count } = await jobsFile(undefined, true)
  const r = spawnSync(python!, [CHECK, 'pyiceberg', file], { encoding: 'utf8', timeout: 600_000 })
  assertReport(r.stdout, r.stderr, r.status, count)
})

test("Spark 3.5 with the Iceberg runtime reads VERSION AS OF 'd<date>' and the live table as the plain layout holds them", async (t) => {
  const python = process.env['CDC_APPLY_PYSPARK_PYTHON']
  const jar = process.env['CDC_APPLY_ICEBERG_SPARK_JAR']
  const why =
    missing(python, 'pyspark', 'CDC_APPLY_PYSPARK_PYTHON', 'scripts/setup-pyspark.sh') ??
    (jar && existsSync(jar)
      ? undefined
      : 'CDC_APPLY_ICEBERG_SPARK_JAR is not set to the Iceberg Spark runtime jar (bash scripts/setup-iceberg-spark.sh fetches it and prints the path)')
  if (why !== undefined) {
    if (CI) assert.fail(`required in CI: ${why}`)
    return t.skip(why)
  }
  const { file, count } = await jobsFile(
    (r) => SPARK_CASES.includes(r.name) || r.name === `seed ${seeds(3)[0]}` || r.name === 'compacted',
  )
  const r = spawnSync(python!, [CHECK, 'spark', file, jar!], {
    encoding: 'utf8',
    timeout: 900_000,
    env: { ...process.env, PYSPARK_PYTHON: python },
  })
  assertReport(r.stdout, r.stderr, r.status, count)
})
