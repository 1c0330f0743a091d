// Watch mode's pipelines: a configured pipeline runs after a poll in which one of its `after` tables advanced, never
// concurrently with itself (advances during a run queue one more run), and while it runs no table is being written
// (an exclusive hold on the gate), so its queries see each table's snapshots whole.
import { resolve } from 'node:path'
import type { Config, PipelineConfig } from './config.js'
import { silentLogger, type Logger } from './log.js'
import type { PipelineRun } from './steps/run-steps.js'

/** A readers-writer gate: table cycles hold it shared, a pipeline run exclusively. Waiting writers go first. */
export class Gate {
  private shared = 0
  private exclusive = false
  private writersWaiting = 0
  private waiters: (() => void)[] = []

  async withShared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.exclusive || this.writersWaiting > 0) await this.change()
    this.shared++
    try {
      return await fn()
    } finally {
      this.shared--
      this.wake()
    }
  }

  async withExclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.writersWaiting++
    try {
      while (this.exclusive || this.shared > 0) await this.change()
    } finally {
      this.writersWaiting--
    }
    this.exclusive = true
    try {
      return await fn()
    } finally {
      this.exclusive = false
      this.wake()
    }
  }

  private change(): Promise<void> {
    return new Promise((r) => this.waiters.push(r))
  }

  private wake(): void {
    const w = this.waiters
    this.waiters = []
    for (const r of w) r()
  }
}

export interface PipelineTriggerOptions {
  logger?: Logger
  signal: AbortSignal
  gate: Gate
  onRun?: (run: PipelineRun) => void
  /** Runs one pipeline (tests replace it); default runPipeline over the configured file. */
  run?: (p: PipelineConfig, signal: AbortSignal) => Promise<PipelineRun>
}

export class PipelineTrigger {
  private readonly entries: { p: PipelineConfig; dirty: boolean; running: Promise<void> | undefined }[]
  private readonly log: Logger

  constructor(
    private readonly config: Config,
    private readonly opts: PipelineTriggerOptions,
  ) {
    this.entries = config.pipelines.map((p) => ({ p, dirty: false, running: undefined }))
    this.log = opts.logger ?? silentLogger
  }

  /** A poll of `table` applied new files: run (or queue one more run of) every pipeline that follows it. */
  advanced(table: string): void {
    for (const e of this.entries) {
      if (!e.p.after.includes(table)) continue
      e.dirty = true
      e.running ??= this.drain(e).finally(() => (e.running = undefined))
    }
  }

  /** Resolves once no pipeline is running. */
  async idle(): Promise<void> {
    await Promise.all(this.entries.flatMap((e) => (e.running ? [e.running] : [])))
  }

  private async drain(e: { p: PipelineConfig; dirty: boolean }): Promise<void> {
    while (e.dirty && !this.opts.signal.aborted) {
      e.dirty = false
      const run = await this.opts.gate.withExclusive(() => (this.opts.run ?? this.runFile)(e.p, this.opts.signal))
      this.opts.onRun?.(run)
    }
  }

  // DuckDB loads only when a pipeline runs
  private readonly runFile = async (p: PipelineConfig, signal: AbortSignal): Promise<PipelineRun> =>
    (await import('./steps/run-steps.js')).runPipeline(
      this.config,
      { file: resolve(this.config.baseDir, p.file) },
      { params: p.params, logger: this.log, signal },
    )
}
