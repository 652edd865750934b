import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  MEMORY_FLAGS,
  UsageError,
  parseBackfillArgs,
  summaryLine,
  uncompressedFetch,
} from './backfill.ts'

function usageErrorOf(argv: string[]): UsageError {
  try {
    parseBackfillArgs(argv)
  } catch (error) {
    if (error instanceof UsageError) return error
    throw error
  }
  throw new Error(`Expected a UsageError for ${argv.join(' ')}`)
}

describe('parseBackfillArgs', () => {
  it('reads one direction', () => {
    expect(parseBackfillArgs(['--direction', 'from-fhir'])).toEqual({
      directions: ['from-fhir'],
      restart: false,
      pageSize: undefined,
      concurrency: 8,
      patientSearch: {},
      help: false,
    })
  })

  it('runs from-fhir before to-fhir for both', () => {
    expect(parseBackfillArgs(['--direction=both']).directions).toEqual(['from-fhir', 'to-fhir'])
  })

  it('reads --restart and --page-size', () => {
    const args = parseBackfillArgs(['--direction', 'to-fhir', '--restart', '--page-size', '250'])

    expect(args.restart).toBe(true)
    expect(args.pageSize).toBe(250)
  })

  it('reads --concurrency', () => {
    expect(parseBackfillArgs(['--direction', 'to-fhir', '--concurrency', '3']).concurrency).toBe(3)
  })

  it.each([['0'], ['33'], ['two']])('rejects --concurrency %s', (value) => {
    expect(usageErrorOf(['--direction', 'to-fhir', `--concurrency=${value}`]).message).toContain(
      'Invalid --concurrency',
    )
  })

  it('reads repeated --search pairs', () => {
    const args = parseBackfillArgs([
      '--direction',
      'from-fhir',
      '--search',
      'identifier=urn:oid:1.2.3|',
      '--search',
      '_tag=urn:tags|import',
    ])

    expect(args.patientSearch).toEqual({ identifier: 'urn:oid:1.2.3|', _tag: 'urn:tags|import' })
  })

  it.each([['identifier'], ['=urn:x|'], ['identifier=']])('rejects --search %s', (pair) => {
    expect(usageErrorOf(['--direction', 'from-fhir', '--search', pair]).message).toContain(
      'Invalid --search',
    )
  })

  it('rejects a --search name given twice', () => {
    const argv = ['--direction', 'from-fhir', '--search', 'a=1', '--search', 'a=2']

    expect(usageErrorOf(argv).message).toContain('given twice')
  })

  it('rejects --search for to-fhir', () => {
    expect(usageErrorOf(['--direction', 'to-fhir', '--search', 'a=1']).message).toContain(
      '--search',
    )
  })

  it('accepts --help without a direction', () => {
    expect(parseBackfillArgs(['--help']).help).toBe(true)
  })

  it('rejects a missing direction', () => {
    expect(usageErrorOf([]).message).toContain('Missing --direction')
  })

  it('rejects an unknown direction', () => {
    expect(usageErrorOf(['--direction', 'sideways']).message).toContain('"sideways"')
  })

  it.each([['0'], ['1001'], ['12.5'], ['ten'], ['-3']])('rejects --page-size %s', (value) => {
    expect(usageErrorOf(['--direction', 'to-fhir', `--page-size=${value}`]).message).toContain(
      'Invalid --page-size',
    )
  })

  it('rejects an unknown option', () => {
    expect(usageErrorOf(['--direction', 'to-fhir', '--force']).message).toContain('--force')
  })

  it('rejects a positional argument', () => {
    expect(usageErrorOf(['--direction', 'to-fhir', 'extra']).message).toContain('extra')
  })
})

describe('summaryLine', () => {
  it('lists the outcomes, most frequent first', () => {
    const line = summaryLine({
      runId: 'r1',
      direction: 'from-fhir',
      status: 'finished',
      resumed: false,
      processed: 12,
      counts: { enrolled: 2, 'not-enrolled': 9, failed: 1 },
      durationMs: 3_400,
    })

    expect(line).toBe(
      'from-fhir finished: 12 processed in 3s (not-enrolled 9, enrolled 2, failed 1)',
    )
  })
})

describe('uncompressedFetch', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
  })

  it('asks for identity encoding and keeps other headers', async () => {
    const fetchMock = vi.fn(() => Promise.resolve(new Response('{}')))
    vi.stubGlobal('fetch', fetchMock)

    await uncompressedFetch('http://fhir.test/Patient', {
      method: 'GET',
      headers: { Accept: 'application/fhir+json' },
    })

    const init = (fetchMock.mock.calls[0] as unknown[] | undefined)?.[1] as RequestInit
    const headers = new Headers(init.headers)
    expect(headers.get('accept-encoding')).toBe('identity')
    expect(headers.get('accept')).toBe('application/fhir+json')
    expect(init.method).toBe('GET')
  })
})

describe('npm run backfill', () => {
  it('starts node with the memory flags', () => {
    const manifest = JSON.parse(
      readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
    ) as { scripts: Record<string, string> }

    expect(manifest.scripts.backfill).toBe(`node ${MEMORY_FLAGS.join(' ')} scripts/backfill.ts`)
  })
})
