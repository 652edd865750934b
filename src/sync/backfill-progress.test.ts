import { describe, expect, it } from 'vitest'
import type { LogFields, Logger } from '../platform/logger.ts'
import { LogProgress, formatDuration, progressFigures } from './backfill-progress.ts'

/** Keeps every log line, for checks of the plain progress mode. */
function recordingLogger(): Logger & { lines: { event: string; fields: LogFields }[] } {
  const lines: { event: string; fields: LogFields }[] = []
  const record = (event: string, fields: LogFields = {}) => {
    lines.push({ event, fields })
  }
  const logger = {
    lines,
    error: record,
    warn: record,
    info: record,
    debug: record,
    child: () => logger,
  }
  return logger
}

function steppingClock(startMs: number) {
  let nowMs = startMs
  return {
    now: () => new Date(nowMs),
    advance: (ms: number) => {
      nowMs += ms
    },
  }
}

describe('progressFigures', () => {
  it('computes rate and time left', () => {
    const figures = progressFigures({ processed: 200, total: 1000, processedAtStart: 0 }, 10_000)

    expect(figures.ratePerSecond).toBe(20)
    expect(figures.etaSeconds).toBe(40)
  })

  it('counts only the items of this invocation', () => {
    const figures = progressFigures({ processed: 600, total: 1000, processedAtStart: 500 }, 10_000)

    expect(figures.ratePerSecond).toBe(10)
    expect(figures.etaSeconds).toBe(40)
  })

  it('has no time left before the first page', () => {
    const figures = progressFigures({ processed: 0, total: 1000, processedAtStart: 0 }, 0)

    expect(figures.ratePerSecond).toBe(0)
    expect(figures.etaSeconds).toBeNull()
  })

  it('reports no time left once the total is reached', () => {
    const figures = progressFigures({ processed: 1000, total: 1000, processedAtStart: 0 }, 5_000)

    expect(figures.etaSeconds).toBe(0)
  })
})

describe('LogProgress', () => {
  it('logs one line per page with rate and time left', () => {
    const logger = recordingLogger()
    const clock = steppingClock(Date.UTC(2026, 0, 1))
    const progress = new LogProgress({ logger, clock })

    progress.start({ runId: 'r1', direction: 'from-fhir' }, 300, 0)
    clock.advance(2_000)
    progress.update(100)
    clock.advance(2_000)
    progress.update(200)
    progress.stop()

    expect(logger.lines).toEqual([
      {
        event: 'Backfill progress',
        fields: {
          runId: 'r1',
          direction: 'from-fhir',
          processed: 100,
          total: 300,
          ratePerSecond: 50,
          etaSeconds: 4,
        },
      },
      {
        event: 'Backfill progress',
        fields: {
          runId: 'r1',
          direction: 'from-fhir',
          processed: 200,
          total: 300,
          ratePerSecond: 50,
          etaSeconds: 2,
        },
      },
    ])
  })

  it('raises the total when more items come than counted', () => {
    const logger = recordingLogger()
    const clock = steppingClock(0)
    const progress = new LogProgress({ logger, clock })

    progress.start({ runId: 'r1', direction: 'to-fhir' }, 10, 0)
    clock.advance(1_000)
    progress.update(12)

    expect(logger.lines[0]?.fields.total).toBe(12)
    expect(logger.lines[0]?.fields.etaSeconds).toBe(0)
  })
})

describe('formatDuration', () => {
  it('formats seconds, minutes and hours', () => {
    expect(formatDuration(7)).toBe('7s')
    expect(formatDuration(245)).toBe('4m05s')
    expect(formatDuration(3720)).toBe('1h02m')
  })
})
