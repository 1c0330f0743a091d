// The progress bar drawn on stderr during `run` on a terminal. It measures work in bytes of the objects to read
// (sizes from the listing), not in files: a run starting with a 2 GB full load followed by a thousand 10 kB change
// files is 99% done after the full load, and its ETA must say so.
import type { ProgressEvent } from '../run.js'

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`
}

/**
 * A progress callback that redraws one line: the bar and ETA over every table's bytes seen so far (tables run in
 * parallel, each reports its own totals), and the files and rows done. `now` is for tests.
 */
export function progressBar(write: (s: string) => void, now: () => number = Date.now): (e: ProgressEvent) => void {
  const started = now()
  const tables = new Map<string, { done: number; total: number; files: number; filesTotal: number }>()
  let rows = 0
  return (e) => {
    rows += e.rows
    tables.set(e.table, { done: e.bytesDone, total: e.bytesTotal, files: e.filesDone, filesTotal: e.filesTotal })
    let done = 0
    let total = 0
    let files = 0
    let filesTotal = 0
    for (const t of tables.values()) {
      done += t.done
      total += t.total
      files += t.files
      filesTotal += t.filesTotal
    }
    const elapsed = (now() - started) / 1000
    const eta = done > 0 ? (elapsed / done) * Math.max(0, total - done) : 0
    const width = 20
    const filled = total > 0 ? Math.min(width, Math.round((width * done) / total)) : width
    write(
      `\r${e.table} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${formatBytes(done)}/${formatBytes(total)} ${files}/${filesTotal} files ${rows} rows ETA ${eta.toFixed(0)}s `,
    )
  }
}
