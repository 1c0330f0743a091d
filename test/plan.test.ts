// planTable, the watermark state machine of docs/semantics.md, on its own: each row of the table (and the late-file,
// reload, watch-memory and load-date rules around it) from plain values, without a store or a state file.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { planDates, planLoadDate, planTable, type DatesPlan, type PlanInput, type TablePlan } from '../src/plan.js'
import { parseDmsName, type DmsFile } from '../src/dms-names.js'
import { filesToHash } from '../src/reconcile.js'
import type { CdcError } from '../src/errors.js'
import type { ProcessedFile, Watermark } from '../src/state/index.js'

const LABEL = 'OP.restaurants'
const TABLE = { source: 'OP', name: 'restaurants', onReload: 'fail', lateFiles: 'fail' } as const
const OLD = new Date('2022-09-26T12:00:00Z')

function file(name: string, opts: { etag?: string; size?: number; at?: Date } = {}): DmsFile {
  const key = `dms/OP/restaurants/${name}`
  return parseDmsName(
    key,
    { format: 'csv', label: LABEL },
    { key, size: opts.size ?? 10, etag: opts.etag ?? `etag-${name}`, lastModified: opts.at ?? OLD },
  )!
}

function listing(...files: DmsFile[]): { load: DmsFile[]; cdc: DmsFile[] } {
  const by = (a: DmsFile, b: DmsFile): number => (a.orderKey < b.orderKey ? -1 : 1)
  return { load: files.filter((f) => f.kind === 'load').sort(by), cdc: files.filter((f) => f.kind === 'cdc').sort(by) }
}

/** The ledger a run that processed `files` leaves (checksum = "md5-" + ETag). */
function ledger(...files: DmsFile[]): ProcessedFile[] {
  return files.map((f) => ({
    file: f.stem,
    key: f.key,
    date: f.date,
    size: f.size,
    etag: f.etag,
    checksum: `md5-${f.etag}`,
    rows: 1,
    inserts: 1,
    updates: 0,
    deletes: 0,
  }))
}

function wm(fullLoad: boolean, lpf: string, loadDate: string): Watermark {
  return { source: 'OP', table: 'restaurants', fullLoad, lpf, loadDate }
}

function plan(input: Partial<PlanInput> & Pick<PlanInput, 'listing'>): TablePlan {
  return planTable({
    label: LABEL,
    table: TABLE,
    watermark: undefined,
    ledger: undefined,
    warm: false,
    hashes: new Map(),
    ...input,
  })
}

const stems = (files: DmsFile[]): string[] => files.map((f) => f.stem)

/** A dates plan as plain values: per date, the files applied and the watermark committed (processed files are never read again). */
function datesOf(p: Pick<DatesPlan, 'dates'>): [string, string[], string | undefined][] {
  return p.dates.map((d) => [
    d.date,
    stems(d.fresh),
    d.watermark && `${d.watermark.fullLoad ? 'True' : 'False'}, ${d.watermark.lpf}`,
  ])
}

function expectKind<K extends TablePlan['kind']>(p: TablePlan, kind: K): Extract<TablePlan, { kind: K }> {
  assert.equal(p.kind, kind, `plan: ${JSON.stringify(p, (k, v) => (k === 'lastModified' ? undefined : v))}`)
  return p as Extract<TablePlan, { kind: K }>
}

function expectStop(p: TablePlan, code: string): CdcError {
  const e = expectKind(p, 'stop').error
  assert.equal(e.code, code, e.message)
  return e
}

const LOAD = file('LOAD00000001.csv')
const D26 = file('20220926-135523276.csv')
const D27 = file('20220927-091502118.csv')
const D28 = file('20220928-181133560.csv')

test('no row: the load date is processed whole with every file; the load date then says which change files join it', () => {
  const p = expectKind(plan({ listing: listing(LOAD, D26, D27, D28) }), 'load')
  assert.equal(p.watermark, undefined)
  assert.deepEqual(
    [stems(p.load), stems(p.cdc), stems(p.superseded)],
    [['LOAD00000001'], [D26.stem, D27.stem, D28.stem], []],
  )
  assert.deepEqual(p.todo, { files: 4, bytes: 40 })
  // load date 26 September: the change file of the 26th joins it, later dates exist → FullLoad True, the same run goes on
  const load = planLoadDate(TABLE, '20220926', p.cdc)
  assert.deepEqual(stems(load.first), [D26.stem])
  assert.deepEqual(load.watermark, wm(true, D26.stem, '20220926'))
  assert.equal(load.later, true)
  const dates = planDates(LABEL, load.watermark, p, false)
  if (dates.kind !== 'dates') return assert.fail(`planDates: ${dates.kind}`)
  assert.deepEqual(datesOf(dates), [
    ['20220927', [D27.stem], `True, ${D27.stem}`],
    ['20220928', [D28.stem], `True, ${D28.stem}`],
  ])
})

test('no row, load only: FullLoad False at <loadDate>-000000000; no full-load files: the plan starts from the first change file', () => {
  const load = planLoadDate(TABLE, '20220926', [])
  assert.deepEqual([load.first, load.later, load.watermark], [[], false, wm(false, '20220926-000000000', '20220926')])
  const p = expectKind(plan({ listing: listing(D26, D27) }), 'load')
  assert.deepEqual([stems(p.load), stems(p.cdc)], [[], [D26.stem, D27.stem]])
})

test('change files dated before the load date belong to the load date, in the load date redo and in later runs', () => {
  const early = file('20220925-235930412.csv')
  const load = planLoadDate(TABLE, '20220926', [early, D26])
  assert.deepEqual(stems(load.first), [early.stem, D26.stem])
  assert.equal(load.later, false)
  // FullLoad True with an LPF named before the load date: its date is the load date, whose RAW is rewritten whole
  const later = file('20220926-200000000.csv')
  const p = expectKind(
    plan({
      watermark: wm(true, early.stem, '20220926'),
      ledger: ledger(LOAD, early),
      listing: listing(LOAD, early, later),
    }),
    'dates',
  )
  assert.equal(p.lpfDate, '20220926')
  assert.deepEqual(datesOf(p), [['20220926', [later.stem], `True, ${later.stem}`]])
  assert.deepEqual(
    p.cdc.filter((f) => f.stem === early.stem).map((f) => f.date),
    ['20220926'],
    'the early file is dated by its partition',
  )
})

test('FullLoad False, the landing holds exactly the ledger: unchanged', () => {
  const p = expectKind(
    plan({ watermark: wm(false, D26.stem, '20220926'), ledger: ledger(LOAD, D26), listing: listing(LOAD, D26) }),
    'unchanged',
  )
  assert.equal(p.why, 'ledger')
})

test('FullLoad False, anything changed: the load date is redone from scratch; a processed file that vanished stops it', () => {
  const before = wm(false, D26.stem, '20220926')
  const grown = expectKind(
    plan({ watermark: before, ledger: ledger(LOAD, D26), listing: listing(LOAD, D26, D27) }),
    'load',
  )
  assert.deepEqual(
    [grown.watermark, stems(grown.load), stems(grown.cdc)],
    [before, ['LOAD00000001'], [D26.stem, D27.stem]],
  )
  const rewritten = file('LOAD00000001.csv', { etag: 'new' })
  assert.equal(
    plan({ watermark: before, ledger: ledger(LOAD, D26), listing: listing(rewritten, D26) }).kind,
    'load',
    'a rewritten LOAD file is no reload before the load date is over',
  )
  const gone = expectStop(
    plan({ watermark: before, ledger: ledger(LOAD, D26), listing: listing(LOAD, D27) }),
    'CDC_LANDING_BEHIND_WATERMARK',
  )
  assert.equal(gone.file, D26.key)
})

test('FullLoad True: every date from the LPF date to the newest file, RAW of a date with its old files, dates without files curated only', () => {
  const lpf = file('20220927-135523276.csv')
  const fresh27 = file('20220927-150000000.csv')
  const fresh29 = file('20220929-010000000.csv')
  const p = expectKind(
    plan({
      watermark: wm(true, lpf.stem, '20220926'),
      ledger: ledger(LOAD, D26, lpf),
      listing: listing(LOAD, D26, lpf, fresh27, fresh29),
    }),
    'dates',
  )
  assert.equal(p.fromMemory, false, 'a cold run restores from the curated snapshot of the LPF date')
  assert.deepEqual([p.lpfDate, p.newestDate, p.todo], ['20220927', '20220929', { files: 2, bytes: 20 }])
  assert.deepEqual(datesOf(p), [
    ['20220927', [fresh27.stem], `True, ${fresh27.stem}`],
    ['20220928', [], undefined],
    ['20220929', [fresh29.stem], `True, ${fresh29.stem}`],
  ])
})

test('FullLoad True at <loadDate>-000000000: a change file of the load date rewrites its RAW with the full-load files', () => {
  const of27 = file('20220927-100000000.csv')
  const p = expectKind(
    plan({
      watermark: wm(true, '20220927-000000000', '20220927'),
      ledger: ledger(LOAD),
      listing: listing(LOAD, of27, D28),
    }),
    'dates',
  )
  assert.deepEqual(datesOf(p), [
    ['20220927', [of27.stem], `True, ${of27.stem}`],
    ['20220928', [D28.stem], `True, ${D28.stem}`],
  ])
})

test('FullLoad True, newest file = LPF: unchanged; no change file at all at <loadDate>-000000000: unchanged', () => {
  assert.equal(
    expectKind(
      plan({
        watermark: wm(true, D28.stem, '20220926'),
        ledger: ledger(LOAD, D26, D28),
        listing: listing(LOAD, D26, D28),
      }),
      'unchanged',
    ).why,
    'caught-up',
  )
  assert.equal(
    expectKind(
      plan({ watermark: wm(true, '20220926-000000000', '20220926'), ledger: ledger(LOAD), listing: listing(LOAD) }),
      'unchanged',
    ).why,
    'no-change-file',
  )
})

test('FullLoad True, newest file < LPF (an incremental listing that cannot see the ledger): CDC_LANDING_BEHIND_WATERMARK', () => {
  const e = expectStop(
    plan({ watermark: wm(true, D28.stem, '20220926'), ledger: undefined, listing: listing(LOAD, D26, D27) }),
    'CDC_LANDING_BEHIND_WATERMARK',
  )
  assert.match(
    e.message,
    new RegExp(`newest change file ${D27.stem} is older than the last processed file ${D28.stem}`),
  )
  expectStop(
    plan({ watermark: wm(true, D28.stem, '20220926'), listing: listing(LOAD) }),
    'CDC_LANDING_BEHIND_WATERMARK',
  )
})

test('late files: a change file at or before the LPF never processed, or whose content changed, stops the table or reprocesses it', () => {
  const late = file('20220927-080000000.csv')
  const input = {
    watermark: wm(true, D27.stem, '20220926'),
    ledger: ledger(LOAD, D26, D27),
    listing: listing(LOAD, D26, late, D27),
  }
  assert.equal(expectStop(plan(input), 'CDC_LATE_FILE').file, late.key)
  const again = expectKind(plan({ ...input, table: { ...TABLE, lateFiles: 'reprocess' } }), 'load')
  assert.equal(again.watermark, undefined, 'rebuilt from the full load')
  assert.deepEqual(stems(again.cdc), [D26.stem, late.stem, D27.stem])
  assert.deepEqual(
    again.notices.map((n) => n.msg),
    ['late files: reprocessing the table from its full load'],
  )
  // same name and size, new ETag: late when its MD5 differs, not when only the ETag moved (a copied bucket)
  const copied = file(D26.name, { etag: 'copied' })
  const after = {
    watermark: wm(true, D27.stem, '20220926'),
    ledger: ledger(LOAD, D26, D27),
    listing: listing(LOAD, copied, D27),
  }
  assert.deepEqual(stems(filesToHash(after.watermark, after.listing, after.ledger)), [D26.stem])
  expectStop(plan({ ...after, hashes: new Map([[D26.stem, 'md5-other']]) }), 'CDC_LATE_FILE')
  assert.equal(plan({ ...after, hashes: new Map([[D26.stem, `md5-${D26.etag}`]]) }).kind, 'unchanged')
  assert.equal(
    plan({ ...after, listing: listing(LOAD, file(D26.name, { etag: 'copied', size: 11 }), D27) }).kind,
    'stop',
    'another size is a change without hashing',
  )
})

test('DMS table reload: a new or rewritten LOAD file stops the table, or rebuilds it with the change files before it superseded', () => {
  const reloadAt = new Date('2022-09-28T16:00:00Z')
  const reloaded = file('LOAD00000001.csv', { etag: 'reloaded', size: 12, at: reloadAt })
  const before = file('20220928-120000000.csv')
  const after = file('20220929-010000000.csv')
  const input = {
    watermark: wm(true, D27.stem, '20220926'),
    ledger: ledger(LOAD, D26, D27),
    listing: listing(reloaded, D26, D27, before, after),
  }
  assert.equal(expectStop(plan(input), 'CDC_RELOAD_DETECTED').file, reloaded.key)
  const p = expectKind(plan({ ...input, table: { ...TABLE, onReload: 'reset' } }), 'load')
  assert.equal(p.watermark, undefined)
  assert.deepEqual([stems(p.superseded), stems(p.cdc)], [[D26.stem, D27.stem, before.stem], [after.stem]])
  assert.deepEqual(p.notices, [
    { fields: { load: reloaded.key, superseded: 3 }, msg: 'table reload: rebuilding from the new full load' },
  ])
  // the next run leaves the superseded files out: they are neither late nor applied
  const next = [...ledger(reloaded, after), ...ledger(D26, D27, before).map((f) => ({ ...f, superseded: true }))]
  assert.equal(
    expectKind(
      plan({
        watermark: wm(true, after.stem, '20220928'),
        ledger: next,
        listing: listing(reloaded, D26, D27, before, after),
      }),
      'unchanged',
    ).why,
    'caught-up',
  )
})

test('watch memory: a warm FullLoad False table applies new files of the load date on its state instead of redoing the date', () => {
  const of26 = file('20220926-200000000.csv')
  const p = expectKind(
    plan({
      watermark: wm(false, D26.stem, '20220926'),
      ledger: undefined,
      warm: true,
      listing: listing(LOAD, D26, of26),
    }),
    'dates',
  )
  assert.equal(p.fromMemory, true)
  assert.deepEqual(datesOf(p), [['20220926', [of26.stem], `False, ${of26.stem}`]])
  const next = expectKind(
    plan({
      watermark: wm(false, D26.stem, '20220926'),
      ledger: undefined,
      warm: true,
      listing: listing(LOAD, D26, D27),
    }),
    'dates',
  )
  assert.deepEqual(
    datesOf(next),
    [['20220927', [D27.stem], `True, ${D27.stem}`]],
    'a file of a later date ends the load date',
  )
})
