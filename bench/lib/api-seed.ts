/**
 * Rows and request bodies of the API benchmark: patients and conditions shaped as the API writes
 * them, inserted through the repositories in a few large transactions.
 */
import type { Kysely } from 'kysely'
import { ConditionRepository } from '../../src/conditions/condition.repository.ts'
import type { ConditionFields } from '../../src/conditions/condition.schemas.ts'
import { PatientRepository } from '../../src/patients/patient.repository.ts'
import type { PatientFields } from '../../src/patients/patient.schemas.ts'
import type { Database } from '../../src/platform/db.ts'

/** Patients inserted per transaction, and transactions running at once. */
const PATIENTS_PER_TRANSACTION = 250
const PARALLEL_TRANSACTIONS = 4

/** Returns the fields of the `index`th benchmark patient, as a client would send them. */
export function patientInput(index: number): PatientFields {
  const day = String((index % 28) + 1).padStart(2, '0')
  return {
    names: [{ use: 'official', family: `Bench${String(index)}`, given: ['Ada', 'Maria'] }],
    birthDate: `${String(1940 + (index % 60))}-0${String((index % 9) + 1)}-${day}`,
    gender: index % 2 === 0 ? 'female' : 'male',
    identifiers: [{ system: 'urn:oid:2.16.756.5.30.1.123', value: `MRN-${String(index)}` }],
    telecom: [{ system: 'email', value: `bench${String(index)}@example.org`, use: 'home' }],
    addresses: [{ line: ['Petersgraben 4'], city: 'Basel', postalCode: '4051', country: 'CH' }],
    deceased: null,
  }
}

/** Returns the fields of a benchmark condition: epilepsy, a code of the neurological set. */
export function conditionInput(index: number): ConditionFields {
  return {
    code: {
      coding: [{ system: 'http://snomed.info/sct', code: '84757009', display: 'Epilepsy' }],
      text: 'Epilepsy',
    },
    clinicalStatus: 'active',
    verificationStatus: 'confirmed',
    onset: { dateTime: `${String(2000 + (index % 20))}-03` },
    abatement: null,
    recordedDate: `${String(2000 + (index % 20))}-04-01`,
  }
}

/**
 * Inserts `patientCount` patients with `conditionsPerPatient` conditions each, as the API stores
 * them (source `registry`, the registry identifier, sync state `pending`), and returns the
 * patients' ids in insertion order. No audit rows or push jobs are written: reads never touch them.
 */
export async function seedPatients(
  db: Kysely<Database>,
  options: { patientCount: number; conditionsPerPatient: number; registryIdentifierSystem: string },
): Promise<string[]> {
  const patients = new PatientRepository()
  const conditions = new ConditionRepository()
  const ids = Array.from({ length: options.patientCount }, () => crypto.randomUUID())
  const batches: number[][] = []
  for (let first = 0; first < ids.length; first += PATIENTS_PER_TRANSACTION) {
    const last = Math.min(ids.length, first + PATIENTS_PER_TRANSACTION)
    batches.push(Array.from({ length: last - first }, (_, offset) => first + offset))
  }

  const insertBatch = async (indexes: number[]) => {
    await db.transaction().execute(async (trx) => {
      for (const index of indexes) {
        const id = ids[index] ?? ''
        const input = patientInput(index)
        const updatedAt = new Date()
        await patients.insert(trx, {
          id,
          source: 'registry',
          fields: {
            ...input,
            identifiers: [
              ...input.identifiers,
              { use: 'official', system: options.registryIdentifierSystem, value: id },
            ],
          },
          updatedBy: 'benchmark',
          updatedAt,
          fhirId: id,
        })
        for (let number = 0; number < options.conditionsPerPatient; number++) {
          const conditionId = crypto.randomUUID()
          await conditions.insert(trx, {
            id: conditionId,
            patientId: id,
            source: 'registry',
            fields: conditionInput(index + number),
            isNeurological: true,
            updatedBy: 'benchmark',
            updatedAt,
            fhirId: conditionId,
          })
        }
      }
    })
  }
  let next = 0
  await Promise.all(
    Array.from({ length: PARALLEL_TRANSACTIONS }, async () => {
      for (let batch = batches[next++]; batch !== undefined; batch = batches[next++]) {
        await insertBatch(batch)
      }
    }),
  )
  return ids
}
