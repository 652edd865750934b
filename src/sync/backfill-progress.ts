import cliProgress from 'cli-progress'
import type { Clock } from '../platform/clock.ts'
import type { Logger } from '../platform/logger.ts'

/** The run a progress report is about. */
export interface ProgressRun {
  runId: string
  direction: 'from-fhir' | 'to-fhir'
}

/** Receives the progress of one backfill run. */
export interface BackfillProgress {
  /** Starts the report. `processed` is above 0 when the run resumes an earlier invocation. */
  start(run: ProgressRun, total: number, processed: number): void
  /** Reports the run's processed count after a page. */
  update(processed: number): void
  stop(): void
}

export interface ProgressFigures {
  processed: number
  total: number
  /** Items per second in this invocation, or 0 before the first page ends. */
  ratePerSecond: number
  /** Seconds until `total` at the current rate, or null while the rate is 0. */
  etaSeconds: number | null
}

/**
 * Computes the rate and the time left. The rate counts only the items of this invocation, so a
 * resumed run does not report the items of an earlier invocation as done in no time.
 */
export function progressFigures(
  figures: { processed: number; total: number; processedAtStart: number },
  elapsedMs: number,
): ProgressFigures {
  const { processed, total, processedAtStart } = figures
  const done = processed - processedAtStart
  const ratePerSecond = elapsedMs > 0 && done > 0 ? (done * 1000) / elapsedMs : 0
  const remaining = Math.max(0, total - processed)
  let etaSeconds: number | null = null
  if (remaining === 0) etaSeconds = 0
  else if (ratePerSecond > 0) etaSeconds = Math.ceil(remaining / ratePerSecond)

  return { processed, total, ratePerSecond: Math.round(ratePerSecond * 10) / 10, etaSeconds }
}

/** Tracks the start of an invocation for `progressFigures`. */
class ProgressClock {
  readonly #clock: Clock
  #startedAt = 0
  #processedAtStart = 0
  total = 0

  constructor(clock: Clock) {
    this.#clock = clock
  }

  start(total: number, processed: number): void {
    this.#startedAt = this.#clock.now().getTime()
    this.#processedAtStart = processed
    this.total = total
  }

  figures(processed: number): ProgressFigures {
    const elapsedMs = this.#clock.now().getTime() - this.#startedAt
    // Patients written to HAPI during the run can take the count past the total read at start.
    this.total = Math.max(this.total, processed)
    return progressFigures(
      { processed, total: this.total, processedAtStart: this.#processedAtStart },
      elapsedMs,
    )
  }
}

/** Progress as one JSON log line per page, for runs whose stderr is not a terminal. */
export class LogProgress implements BackfillProgress {
  readonly #logger: Logger
  readonly #figures: ProgressClock
  #run: ProgressRun | undefined

  constructor(deps: { logger: Logger; clock: Clock }) {
    this.#logger = deps.logger
    this.#figures = new ProgressClock(deps.clock)
  }

  start(run: ProgressRun, total: number, processed: number): void {
    this.#run = run
    this.#figures.start(total, processed)
  }

  update(processed: number): void {
    this.#logger.info('Backfill progress', { ...this.#run, ...this.#figures.figures(processed) })
  }

  stop(): void {
    this.#run = undefined
  }
}

/** Progress as a bar with count, rate and time left, for a terminal. */
export class BarProgress implements BackfillProgress {
  readonly #figures: ProgressClock
  readonly #bar: cliProgress.SingleBar

  constructor(deps: { clock: Clock; stream: NodeJS.WritableStream }) {
    this.#figures = new ProgressClock(deps.clock)
    this.#bar = new cliProgress.SingleBar({
      stream: deps.stream,
      // `eta` is a name cli-progress fills in itself, so the time left has a name of its own.
      format: '{direction} [{bar}] {value}/{total} | {rate}/s | ETA {timeLeft}',
      hideCursor: true,
    })
  }

  start(run: ProgressRun, total: number, processed: number): void {
    this.#figures.start(total, processed)
    this.#bar.start(total, processed, { direction: run.direction, rate: '0.0', timeLeft: '-' })
  }

  update(processed: number): void {
    const figures = this.#figures.figures(processed)
    this.#bar.setTotal(figures.total)
    this.#bar.update(processed, {
      rate: figures.ratePerSecond.toFixed(1),
      timeLeft: figures.etaSeconds === null ? '-' : formatDuration(figures.etaSeconds),
    })
  }

  stop(): void {
    this.#bar.stop()
  }
}

/** Formats seconds as `1h02m`, `4m05s` or `7s`. */
export function formatDuration(seconds: number): string {
  const hours = Math.floor(seconds / 3600)
  const minutes = Math.floor((seconds % 3600) / 60)
  const rest = Math.floor(seconds % 60)
  if (hours > 0) return `${hours}h${String(minutes).padStart(2, '0')}m`
  if (minutes > 0) return `${minutes}m${String(rest).padStart(2, '0')}s`
  return `${rest}s`
}
