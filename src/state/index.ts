// The SQLite state file: the only importer of better-sqlite3. Callers use these typed functions, never SQL.
export { STATE_VERSION } from './migrations.js'
export { KEY_FORMAT, StateStore, convertKey, type Commit, type ProcessedFile, type Watermark } from './state-store.js'
export { processIdentity } from './lock.js'
export type { LivePart, RawCommit, RawPart } from './raw-parts.js'
export { lagSeconds, type TableStatus } from './table-runs.js'
export type { CatalogRecord } from './catalog-records.js'
export { readLedger, readLpf, type LedgerView } from './ledger-view.js'
export {
  lastVerify,
  pipelineRuns,
  recordPipelineRun,
  recordVerify,
  type PipelineRunRecord,
  type PipelineRunRow,
  type VerifyRun,
} from './check-runs.js'
export { HANDOVER_FORMAT, exportTable, importTable, type HandoverState, type HandoverTombstone } from './handover.js'
