/**
 * Writes FHIR data into HAPI the way an outside hospital would, so the registry learns of it
 * only through its Subscriptions.
 *
 *   npm run load -- [--fhir-base-url URL] [--types Patient,Condition] PATH...
 *
 * PATH is a transaction Bundle file, a folder of such files, a folder of single resources, or a
 * bulk-export NDJSON folder. Transaction and batch Bundles are posted unchanged. Everything else
 * is sent as PUT transactions of the listed types (default Patient and Condition). Their
 * references to resources outside the load (a bulk export's Encounters, an example's
 * Organization) are dropped, because HAPI enforces referential integrity, and a resource whose
 * subject is outside the load is skipped.
 */
import { parseArgs } from 'node:util'
import cliProgress from 'cli-progress'
import { FhirClient } from '../src/fhir/fhir-client.ts'
import { loadBatches, readLoad, type LoadResult } from './fhir-loader.ts'

export const HOSPITAL_SOURCE_URI = 'https://hospital.example.org/ehr'

/** Loads `paths` into HAPI with a progress bar on a terminal; returns what was written. */
export async function loadFhirData(
  fhirBaseUrl: string,
  paths: string[],
  types: string[],
): Promise<LoadResult> {
  const fhir = new FhirClient({
    baseUrl: fhirBaseUrl,
    timeoutMs: 120_000,
    sourceUri: HOSPITAL_SOURCE_URI,
  })
  const batches = await readLoad(paths, new Set(types), {
    onSkipped: (count) => {
      process.stderr.write(`Skipped ${count} resources whose subject is not part of the load\n`)
    },
  })
  const bar = process.stdout.isTTY
    ? new cliProgress.SingleBar({ format: 'Loading into HAPI [{bar}] {value}/{total} resources' })
    : undefined
  bar?.start(
    batches.reduce((sum, batch) => sum + (batch.bundle.entry?.length ?? 0), 0),
    0,
  )
  try {
    return await loadBatches(fhir, batches, (progress) => bar?.update(progress.done))
  } finally {
    bar?.stop()
  }
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'fhir-base-url': {
        type: 'string',
        default:
          process.env.FHIR_BASE_URL ?? `http://127.0.0.1:${process.env.HAPI_PORT ?? '8080'}/fhir`,
      },
      types: { type: 'string', default: 'Patient,Condition' },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help || positionals.length === 0) {
    process.stdout.write(
      'Usage: npm run load -- [--fhir-base-url URL] [--types Patient,Condition] PATH...\n' +
        'PATH: a transaction Bundle file, a folder of Bundles or resources, or a bulk NDJSON folder.\n' +
        'Outside transaction Bundles, references to resources not in the load are dropped.\n',
    )
    process.exit(positionals.length === 0 && !values.help ? 2 : 0)
  }
  const result = await loadFhirData(values['fhir-base-url'], positionals, values.types.split(','))
  const written = Object.entries(result.written)
    .sort(([, a], [, b]) => b - a)
    .map(([type, count]) => `${type} ${count}`)
    .join(', ')
  process.stdout.write(
    `Loaded ${result.transactions} transactions in ${(result.durationMs / 1000).toFixed(1)} s: ${written}\n`,
  )
}
