import type { Condition, Patient } from '@medplum/fhirtypes'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SNOMED_CT } from '../src/fhir/constants.ts'
import { PARKED_MERGE_RETRY_DELAYS_SECONDS } from '../src/platform/queue.ts'
import { startTestRegistry, waitFor, type TestRegistry } from './harness.ts'

/** Suffix of every id and identifier system this file writes, so reruns never collide. */
const RUN = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
const MRN_SYSTEM = `https://hospital.example.org/test/parking/${RUN}/mrn`

/** Multiple sclerosis: in the neurological value set. */
const MULTIPLE_SCLEROSIS = { coding: [{ system: SNOMED_CT, code: '24700007' }] }
/** Hypertension: outside it. */
const HYPERTENSION = { coding: [{ system: SNOMED_CT, code: '38341003' }] }

let registry: TestRegistry

beforeAll(async () => {
  registry = await startTestRegistry('parking')
})

afterAll(async () => {
  await registry.stop()
})

function conditionNamingMrn(name: string, mrn: string, code: Condition['code']): Condition {
  return {
    resourceType: 'Condition',
    id: `park-${RUN}-${name}`,
    code,
    subject: { identifier: { system: MRN_SYSTEM, value: mrn } },
  }
}

async function notificationsOf(resourceId: string) {
  return registry.registry.db
    .selectFrom('fhir_notifications')
    .selectAll()
    .where('resource_type', '=', 'Condition')
    .where('resource_id', '=', resourceId)
    .orderBy('id')
    .execute()
}

describe('parked conditions', () => {
  it('parks a neurological condition whose subject is unknown', async () => {
    const condition = await registry.hospital.update(
      conditionNamingMrn('unknown', 'MRN-404', MULTIPLE_SCLEROSIS),
    )

    const parked = await waitFor('the notification to be parked', async () => {
      const rows = await notificationsOf(condition.id ?? '')
      return rows.find((row) => row.parked_reason !== null)
    })

    expect(parked.parked_reason).toBe('identifier-not-found')
    expect(parked.processed_at).toBeNull()
    expect(parked.attempts).toBe(1)
    expect(parked.next_attempt_at).not.toBeNull()
  })

  it('drops a non-neurological condition of an unknown subject', async () => {
    const condition = await registry.hospital.update(
      conditionNamingMrn('other', 'MRN-405', HYPERTENSION),
    )

    const processed = await waitFor('the notification to be processed', async () => {
      const rows = await notificationsOf(condition.id ?? '')
      return rows.find((row) => row.processed_at !== null)
    })

    expect(processed.outcome).toBe('not-enrolled')
    expect(processed.parked_reason).toBeNull()
  })

  it('merges a new delivery of a parked condition at once', async () => {
    const condition = await registry.hospital.update(
      conditionNamingMrn('fixed', 'MRN-407', MULTIPLE_SCLEROSIS),
    )
    const parked = await waitFor('the notification to be parked', async () => {
      const rows = await notificationsOf(condition.id ?? '')
      return rows.find((row) => row.parked_reason !== null)
    })
    const patient = await registry.hospital.update<Patient>({
      resourceType: 'Patient',
      id: `park-${RUN}-fixed`,
      identifier: [{ system: MRN_SYSTEM, value: 'MRN-407' }],
    })

    // The hospital edits the Condition: that delivery must not wait for the delayed retry.
    await registry.hospital.update<Condition>({ ...condition, onsetDateTime: '2020-03' })
    const rows = await waitFor('every notification to be processed', async () => {
      const all = await notificationsOf(condition.id ?? '')
      return all.length >= 2 && all.every((row) => row.processed_at !== null) ? all : undefined
    })

    const nextAttemptAt = parked.next_attempt_at ?? new Date(0)
    expect(rows.every((row) => (row.processed_at ?? nextAttemptAt) < nextAttemptAt)).toBe(true)
    expect(rows.at(-1)?.outcome).toBe('enrolled')
    const response = await registry.api('GET', `/patients?fhirId=${patient.id ?? ''}`)
    const page = (await response.json()) as { items: { source: string }[] }
    expect(page.items.map((item) => item.source)).toEqual(['external'])
  })

  it('enrols the patient once the subject appears', async () => {
    const condition = await registry.hospital.update(
      conditionNamingMrn('late', 'MRN-406', MULTIPLE_SCLEROSIS),
    )
    await waitFor('the notification to be parked', async () => {
      const rows = await notificationsOf(condition.id ?? '')
      return rows.find((row) => row.parked_reason !== null)
    })

    // The Patient's own notification finds no Condition by subject reference, so only the
    // delayed retry of the parked Condition can enrol it.
    const patient = await registry.hospital.update<Patient>({
      resourceType: 'Patient',
      id: `park-${RUN}-late`,
      identifier: [{ system: MRN_SYSTEM, value: 'MRN-406' }],
    })
    const firstDelayMs = (PARKED_MERGE_RETRY_DELAYS_SECONDS[0] ?? 0) * 1000
    const enrolled = await waitFor(
      'the parked condition to enrol its patient',
      async () => {
        const response = await registry.api('GET', `/patients?fhirId=${patient.id ?? ''}`)
        const page = (await response.json()) as { items: { id: string; source: string }[] }
        return page.items[0]
      },
      firstDelayMs + 45_000,
    )

    expect(enrolled.source).toBe('external')
    const conditions = (await (
      await registry.api('GET', `/conditions?patientId=${enrolled.id}`)
    ).json()) as { items: { sync: { fhirId: string | null } }[] }
    expect(conditions.items.map((item) => item.sync.fhirId)).toEqual([condition.id])
    const rows = await notificationsOf(condition.id ?? '')
    expect(rows.every((row) => row.processed_at !== null)).toBe(true)
    expect(rows.at(-1)?.outcome).toBe('enrolled')
  }, 120_000)
})
