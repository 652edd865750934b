/**
 * Data of the backfill benchmark: hospital Patients with Conditions written to HAPI, pending
 * registry rows written through the repositories, and the checks and clean-up of both sides.
 */
import type { Bundle, BundleEntry, Condition as FhirCondition } from '@medplum/fhirtypes'
import pg from 'pg'
import { createRegistry } from '../../src/app.ts'
import { ConditionRepository } from '../../src/conditions/condition.repository.ts'
import type { ConditionFields } from '../../src/conditions/condition.schemas.ts'
import { ICD_10_CM, SNOMED_CT } from '../../src/fhir/constants.ts'
import { FhirClient, FhirRequestError } from '../../src/fhir/fhir-client.ts'
import { NeurologyValueSet } from '../../src/fhir/neurology-value-set.ts'
import { PatientRepository } from '../../src/patients/patient.repository.ts'
import type { PatientFields } from '../../src/patients/patient.schemas.ts'
import type { Config } from '../../src/platform/config.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { sleep } from './stats.ts'

/** Patients per transaction Bundle while loading HAPI, each with its Conditions. */
const LOAD_BUNDLE_PATIENTS = 100
/** Load Bundles in flight at once against HAPI, which runs on few cores. */
const HAPI_WRITERS = 2
const DELETE_BUNDLE_ENTRIES = 500
const DELETE_ATTEMPTS = 5
/** Registry rows inserted at once while filling the schemas, below the pool's 10 connections. */
const INSERT_WORKERS = 8

/** Neurological codes of the bundled value set, used in turn for each patient's Conditions. */
const NEUROLOGY_CODINGS = [
  { system: SNOMED_CT, code: '24700007', display: 'Multiple sclerosis' },
  { system: SNOMED_CT, code: '84757009', display: 'Epilepsy' },
  { system: ICD_10_CM, code: 'G35', display: 'Multiple sclerosis' },
  { system: ICD_10_CM, code: 'G40.909', display: 'Epilepsy, unspecified' },
] as const

export function hospitalClient(baseUrl: string): FhirClient {
  return new FhirClient({
    baseUrl,
    timeoutMs: 300_000,
    sourceUri: 'https://hospital.example.org/bench/ehr',
  })
}

/** Runs `task` on each item with `workers` at once. */
async function eachAtOnce<T>(
  items: readonly T[],
  workers: number,
  task: (item: T) => Promise<void>,
) {
  let next = 0
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < items.length) await task(items[next++] as T)
    }),
  )
}

function chunksOf<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = []
  for (let start = 0; start < items.length; start += size) {
    chunks.push(items.slice(start, start + size))
  }
  return chunks
}

type NeurologyCoding = (typeof NEUROLOGY_CODINGS)[number]

function conditionCodings(patientIndex: number, count: number): NeurologyCoding[] {
  return Array.from(
    { length: count },
    (_, index) =>
      NEUROLOGY_CODINGS[(patientIndex + index) % NEUROLOGY_CODINGS.length] as NeurologyCoding,
  )
}

/** References (`Type/id`) that HAPI gave the resources of a transaction response. */
function createdReferences(response: Bundle): string[] {
  return (response.entry ?? []).flatMap((entry) => {
    const location = entry.response?.location
    return location ? [location.split('/_history/')[0] ?? location] : []
  })
}

/**
 * Writes the patients and their Conditions to HAPI as a hospital would, and adds the reference
 * of every resource written to `written`, so a failed load is deleted as well.
 */
export async function loadHospitalPatients(
  hospital: FhirClient,
  mrnSystem: string,
  patients: number,
  conditionsPerPatient: number,
  written: string[],
): Promise<void> {
  const starts = Array.from({ length: Math.ceil(patients / LOAD_BUNDLE_PATIENTS) }, (_, index) => {
    return index * LOAD_BUNDLE_PATIENTS
  })
  await eachAtOnce(starts, HAPI_WRITERS, async (start) => {
    const entry: BundleEntry[] = []
    for (let index = start; index < Math.min(patients, start + LOAD_BUNDLE_PATIENTS); index++) {
      const patientUrl = `urn:uuid:${crypto.randomUUID()}`
      entry.push({
        fullUrl: patientUrl,
        resource: {
          resourceType: 'Patient',
          identifier: [{ use: 'usual', system: mrnSystem, value: `mrn-${String(index)}` }],
          name: [{ use: 'official', family: `Bench${String(index)}`, given: ['Ada'] }],
          birthDate: '1965-04-12',
          gender: index % 2 === 0 ? 'female' : 'male',
        },
        request: { method: 'POST', url: 'Patient' },
      })
      for (const coding of conditionCodings(index, conditionsPerPatient)) {
        const condition: FhirCondition = {
          resourceType: 'Condition',
          subject: { reference: patientUrl },
          code: { coding: [coding] },
          recordedDate: '2019-06-01',
        }
        entry.push({
          fullUrl: `urn:uuid:${crypto.randomUUID()}`,
          resource: condition,
          request: { method: 'POST', url: 'Condition' },
        })
      }
    }
    const response = await hospital.transaction({
      resourceType: 'Bundle',
      type: 'transaction',
      entry,
    })
    written.push(...createdReferences(response))
  })
}

/**
 * Deletes resources by reference, Conditions first, because HAPI refuses to delete a Patient that
 * a Condition still references. Delete Bundles that run beside other writes fail now and then on
 * HAPI 8.8 with 409 (HAPI-0826, version constraint failure), so each goes one at a time and is
 * sent again after a 409. A delete of a deleted resource succeeds. Returns the seconds it took.
 */
export async function deleteFromHapi(hospital: FhirClient, references: readonly string[]) {
  const started = performance.now()
  const conditions = references.filter((reference) => reference.startsWith('Condition/'))
  const others = references.filter((reference) => !reference.startsWith('Condition/'))
  for (const group of [conditions, others]) {
    for (const chunk of chunksOf(group, DELETE_BUNDLE_ENTRIES)) {
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: chunk.map((url) => ({ request: { method: 'DELETE', url } })),
      }
      for (let attempt = 1; ; attempt++) {
        try {
          await hospital.transaction(bundle)
          break
        } catch (error) {
          const clash = error instanceof FhirRequestError && error.status === 409
          if (!clash || attempt === DELETE_ATTEMPTS) throw error
          await sleep(attempt * 1000)
        }
      }
    }
  }
  return (performance.now() - started) / 1000
}

export async function countRows(config: Config, query: string): Promise<number> {
  const client = new pg.Client({ connectionString: config.DATABASE_URL })
  await client.connect()
  try {
    await client.query(`set search_path to ${config.DATABASE_SCHEMA}`)
    const result = await client.query<{ count: string }>(query)
    return Number(result.rows[0]?.count ?? 0)
  } finally {
    await client.end()
  }
}

export async function countInHapi(
  fhir: FhirClient,
  type: 'Patient' | 'Condition',
  params: Record<string, string>,
) {
  const bundle = await fhir.search(type, { ...params, _summary: 'count' })
  return bundle.total ?? 0
}

function registryPatientFields(config: Config, id: string, index: number): PatientFields {
  return {
    names: [{ use: 'official', family: `Bench${String(index)}`, given: ['Ada'] }],
    birthDate: '1970-01-01',
    gender: index % 2 === 0 ? 'female' : 'male',
    identifiers: [{ use: 'official', system: config.REGISTRY_IDENTIFIER_SYSTEM, value: id }],
    telecom: [],
    addresses: [],
    deceased: null,
  }
}

function registryConditionFields(coding: NeurologyCoding): ConditionFields {
  return {
    code: { coding: [coding] },
    clinicalStatus: 'active',
    verificationStatus: 'confirmed',
    onset: { dateTime: '2015-01' },
    abatement: null,
    recordedDate: '2016-02-03',
  }
}

/**
 * Inserts pending patients and conditions as the API leaves them before their push, through the
 * repositories. Returns the FHIR references they will have, conditions first.
 */
export async function fillRegistry(
  config: Config,
  patients: number,
  conditionsPerPatient: number,
): Promise<string[]> {
  const registry = await createRegistry(config, {
    logger: createLogger('warn', { bench: 'backfill' }),
  })
  const patientRepository = new PatientRepository()
  const conditionRepository = new ConditionRepository()
  const patientIds = Array.from({ length: patients }, () => crypto.randomUUID())
  const conditionIds: string[] = []
  const now = new Date()
  try {
    await eachAtOnce(
      patientIds.map((id, index) => ({ id, index })),
      INSERT_WORKERS,
      async ({ id, index }) => {
        await patientRepository.insert(registry.db, {
          id,
          source: 'registry',
          fields: registryPatientFields(config, id, index),
          updatedBy: 'bench',
          updatedAt: now,
          fhirId: id,
        })
        for (const coding of conditionCodings(index, conditionsPerPatient)) {
          const conditionId = crypto.randomUUID()
          conditionIds.push(conditionId)
          await conditionRepository.insert(registry.db, {
            id: conditionId,
            patientId: id,
            source: 'registry',
            fields: registryConditionFields(coding),
            isNeurological: true,
            updatedBy: 'bench',
            updatedAt: now,
            fhirId: conditionId,
          })
        }
      },
    )
  } finally {
    await registry.stop()
  }
  return [
    ...conditionIds.map((id) => `Condition/${id}`),
    ...patientIds.map((id) => `Patient/${id}`),
  ]
}

/** Raises when a coding the benchmark writes would not enrol its patient under `config`. */
export function checkNeurologyCodings(config: Config): void {
  const valueSet = NeurologyValueSet.fromFile(config.NEUROLOGY_VALUE_SET_FILE)
  for (const coding of NEUROLOGY_CODINGS) {
    if (!valueSet.containsAny([coding])) {
      throw new Error(`${coding.system}|${coding.code} is not in the neurological value set`)
    }
  }
}
