// `cdc-apply snapshot --table S.T --as-of <DMS file | timestamp> --out <location>`: the command body.
import { EXIT } from '../errors.js'
import { tableLabel, type Config } from '../config.js'
import type { Logger } from '../log.js'
import { snapshotAsOf, type SnapshotResult } from '../check/snapshot.js'
import { failure, withSignals, type CommandIo } from './verify.js'

export interface SnapshotArgs {
  table: string
  asOf: string
  out: string
  json: boolean
}

/** Writes the as-of snapshot and prints what was written; exit 0, or the error's code (2 for bad arguments). */
export async function snapshotCommand(config: Config, args: SnapshotArgs, io: CommandIo, log: Logger): Promise<number> {
  return withSignals(log, async (signal) => {
    try {
      const r = await snapshotAsOf(config, {
        table: args.table ?? '',
        asOf: args.asOf ?? '',
        out: args.out ?? '',
        baseDir: process.cwd(),
        logger: log,
        signal,
      })
      io.stdout(args.json ? JSON.stringify(r) + '\n' : renderSnapshot(r))
      return EXIT.ok
    } catch (err) {
      return failure(err, io, log, signal)
    }
  })
}

export function renderSnapshot(r: SnapshotResult): string {
  const when =
    r.kind === 'file' ? `after DMS file ${r.asOf}` : `at ${r.asOf} UTC (the changes committed at or before it)`
  const dates =
    r.datesRead.length === 0
      ? 'no RAW partition'
      : r.datesRead.length === 1
        ? `1 RAW partition (${r.datesRead[0]})`
        : `${r.datesRead.length} RAW partitions (${r.datesRead[0]}..${r.datesRead.at(-1)})`
  const ice = r.iceberg
    ? `; the same rows as Iceberg snapshot ${r.iceberg.snapshotId}${r.iceberg.refs.length > 0 ? ` (${r.iceberg.refs.join(', ')})` : ''}`
    : ''
  return `${tableLabel(r)} ${when}: ${r.rows} rows (${r.tombstones} deleted keys left out) written to ${r.written} (${r.bytes} bytes); read ${dates}, ${r.rawRows} changes${ice}; ${r.ms} ms\n`
}
