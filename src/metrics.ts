// Prometheus text metrics and /healthz for watch mode, served by node:http.
import { createServer, type Server } from 'node:http'
import { lagSeconds } from './state/index.js'
import type { TableResult } from './run.js'
import { tableLabel } from './config.js'

export class Metrics {
  private files = new Map<string, number>()
  private rows = new Map<string, number>()
  private lag = new Map<string, number>()
  private quarantined = new Map<string, number>()
  private segments = new Map<string, number>()
  private pollSeconds = new Map<string, number>()
  private errors = new Map<string, number>()
  private lastSuccess = new Map<string, number>()
  private failed = new Map<string, number>()
  private pipelineRuns = new Map<string, number>()
  private pipelineSeconds = new Map<string, number>()
  private catalogErrors = new Map<string, number>()
  private catalogRegistered = new Map<string, number>()
  private catalogLastSuccess = new Map<string, number>()
  lastPollAt = 0

  constructor(private readonly staleAfterMs: number) {}

  record(r: TableResult, stopped: boolean): void {
    const table = tableLabel(r)
    this.lastPollAt = Date.now()
    add(this.files, label({ table }), r.files)
    add(this.rows, label({ table, op: 'I' }), r.inserts)
    add(this.rows, label({ table, op: 'U' }), r.updates)
    add(this.rows, label({ table, op: 'D' }), r.deletes)
    add(this.quarantined, label({ table }), r.quarantined)
    if (r.segments !== undefined) this.segments.set(label({ table }), r.segments)
    this.pollSeconds.set(label({ table }), r.ms / 1000)
    if (r.newest && r.lpf) this.lag.set(label({ table }), lagSeconds(r.newest, r.lpf) ?? 0)
    if (r.error && r.status !== 'aborted')
      add(this.errors, label({ table, code: (r.error as { code?: string }).code ?? 'CDC_INTERNAL' }), 1)
    else if (!r.error) this.lastSuccess.set(label({ table }), Date.now() / 1000)
    this.failed.set(label({ table }), stopped ? 1 : 0)
    if (r.catalog) {
      this.catalogRegistered.set(label({ table }), r.catalog.error ? 0 : 1)
      if (r.catalog.error) add(this.catalogErrors, label({ table, code: r.catalog.error.code }), 1)
      else this.catalogLastSuccess.set(label({ table }), Date.now() / 1000)
    }
  }

  recordPipeline(run: { pipeline: string; status: string; ms: number }): void {
    add(this.pipelineRuns, label({ pipeline: run.pipeline, status: run.status }), 1)
    this.pipelineSeconds.set(label({ pipeline: run.pipeline }), run.ms / 1000)
  }

  healthy(): boolean {
    if ([...this.failed.values()].some((v) => v === 1)) return false
    return this.lastPollAt > 0 && Date.now() - this.lastPollAt < this.staleAfterMs
  }

  render(): string {
    const out: string[] = []
    const family = (name: string, type: string, help: string, m: Map<string, number>): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
      for (const [l, v] of m) out.push(`${name}{${l}} ${v}`)
    }
    family('cdc_apply_files_processed_total', 'counter', 'DMS files applied', this.files)
    family('cdc_apply_rows_processed_total', 'counter', 'Change rows applied, by op (stale rows included)', this.rows)
    family('cdc_apply_rows_quarantined_total', 'counter', 'Rows set aside under onBadRow quarantine', this.quarantined)
    family(
      'cdc_apply_segment_files_not_applied',
      'gauge',
      'Parallel-load segment files in the table folder at the last full listing (DMS full-load data not applied)',
      this.segments,
    )
    family(
      'cdc_apply_lag_seconds',
      'gauge',
      'Time between the newest landed file and the watermark (from their names)',
      this.lag,
    )
    family('cdc_apply_poll_duration_seconds', 'gauge', 'Duration of the last poll of the table', this.pollSeconds)
    family('cdc_apply_errors_total', 'counter', 'Failed polls, by error code', this.errors)
    family(
      'cdc_apply_last_success_timestamp_seconds',
      'gauge',
      'Unix time of the last successful poll',
      this.lastSuccess,
    )
    family('cdc_apply_table_failed', 'gauge', '1 when the table stopped on a terminal error', this.failed)
    family(
      'cdc_apply_pipeline_runs_total',
      'counter',
      'Runs of configured pipelines, by status (Success or Error)',
      this.pipelineRuns,
    )
    family(
      'cdc_apply_pipeline_duration_seconds',
      'gauge',
      'Duration of the last run of the pipeline',
      this.pipelineSeconds,
    )
    family(
      'cdc_apply_catalog_errors_total',
      'counter',
      'Failed catalog registrations, by error code (ingestion goes on)',
      this.catalogErrors,
    )
    family(
      'cdc_apply_catalog_registered',
      'gauge',
      '1 when the last catalog registration of the table succeeded, 0 when it failed',
      this.catalogRegistered,
    )
    family(
      'cdc_apply_catalog_last_success_timestamp_seconds',
      'gauge',
      'Unix time of the last successful catalog registration',
      this.catalogLastSuccess,
    )
    return out.join('\n') + '\n'
  }
}

function label(l: Record<string, string>): string {
  return Object.entries(l)
    .map(([k, v]) => `${k}="${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`)
    .join(',')
}

function add(m: Map<string, number>, k: string, v: number): void {
  m.set(k, (m.get(k) ?? 0) + v)
}

/** Serves /metrics and /healthz; resolves once listening. */
export function serveMetrics(metrics: Metrics, port: number, host: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.render())
    } else if (req.url === '/healthz') {
      const ok = metrics.healthy()
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'unhealthy\n')
    } else res.writeHead(404).end()
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve(server))
  })
}
