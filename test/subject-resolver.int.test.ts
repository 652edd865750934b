import type { Condition, Group, Identifier, Patient, Resource } from '@medplum/fhirtypes'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { FhirClient, FhirRequestError } from '../src/fhir/fhir-client.ts'
import { SNOMED_CT } from '../src/fhir/constants.ts'
import { createLogger } from '../src/platform/logger.ts'
import { SubjectResolver, type SubjectResolution } from '../src/sync/subject-resolver.ts'

/**
 * Suffix of every id and identifier system this file writes, so a rerun against the same HAPI
 * database finds none of an earlier run's resources.
 */
const RUN = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
const MRN_SYSTEM = `https://hospital.example.org/test/subject-resolver/${RUN}/mrn`

/** Hypertension: outside the neurological value set, so no registry under test enrols it. */
const NON_NEUROLOGICAL_CODE = { coding: [{ system: SNOMED_CT, code: '38341003' }] }

const fhirBaseUrl = inject('fhirBaseUrl')
const hospital = new FhirClient({
  baseUrl: fhirBaseUrl,
  timeoutMs: 30_000,
  sourceUri: 'https://hospital.example.org/ehr',
})
const resolver = new SubjectResolver({
  fhir: hospital,
  logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'warn', { test: 'subject-resolver' }),
})

/** `Type/id` of every resource this file wrote, deleted again in afterAll. */
const written: string[] = []

afterAll(async () => {
  // Conditions first: HAPI refuses to delete a resource that a live Condition references.
  const ordered = [
    ...written.filter((reference) => reference.startsWith('Condition/')),
    ...written.filter((reference) => !reference.startsWith('Condition/')),
  ]
  for (const reference of ordered) {
    const [type = '', id = ''] = reference.split('/')
    await deleteWithRetry(type, id)
  }
})

/**
 * Deletes a resource, trying again after a version conflict. HAPI 8.8 once answered such a
 * DELETE with 409 HAPI-0826 (a version constraint failure) in a CI run, though this file is the
 * only writer of its resources, and the failed cleanup failed the whole file.
 */
async function deleteWithRetry(type: string, id: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await hospital.delete(type, id)
      return
    } catch (error) {
      if (!(error instanceof FhirRequestError && error.isVersionConflict) || attempt === 3) {
        throw error
      }
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
  }
}

async function store<T extends Resource>(resource: T): Promise<T> {
  const stored = await hospital.update(resource)
  written.push(`${resource.resourceType}/${resource.id ?? ''}`)
  return stored
}

async function storePatient(name: string, identifier: Identifier[] = []): Promise<Patient> {
  return store<Patient>({ resourceType: 'Patient', id: `sr-${RUN}-${name}`, identifier })
}

async function storeCondition(name: string, subject: Condition['subject']): Promise<Condition> {
  return store<Condition>({
    resourceType: 'Condition',
    id: `sr-${RUN}-${name}`,
    code: NON_NEUROLOGICAL_CODE,
    subject,
  })
}

function mrn(value: string): Identifier {
  return { system: MRN_SYSTEM, value }
}

/** Returns the id of the resolved Patient, or undefined for any other outcome. */
function patientIdOf(resolution: SubjectResolution): string | undefined {
  return resolution.kind === 'patient' ? resolution.patient.id : undefined
}

describe('SubjectResolver on HAPI', () => {
  it('resolves a literal reference', async () => {
    const patient = await storePatient('literal')
    const condition = await storeCondition('literal', { reference: `Patient/${patient.id ?? ''}` })

    const resolution = await resolver.resolve(condition)

    expect(resolution.kind).toBe('patient')
    expect(patientIdOf(resolution)).toBe(patient.id)
  })

  it('resolves an absolute reference to the current version', async () => {
    const patient = await storePatient('absolute')
    await store<Patient>({ ...patient, gender: 'female' })
    const reference = `${hospital.baseUrl}/Patient/${patient.id ?? ''}/_history/1`

    const resolution = await resolver.resolve({
      resourceType: 'Condition',
      id: `sr-${RUN}-absolute`,
      subject: { reference },
    })

    expect(resolution.kind).toBe('patient')
    const resolved = resolution.kind === 'patient' ? resolution.patient : undefined
    expect(resolved?.meta?.versionId).toBe('2')
  })

  it('reports a deleted Patient as patient-not-found', async () => {
    const patient = await storePatient('deleted')
    await hospital.delete('Patient', patient.id ?? '')

    const resolution = await resolver.resolve({
      resourceType: 'Condition',
      id: `sr-${RUN}-deleted`,
      subject: { reference: `Patient/${patient.id ?? ''}` },
    })

    expect(resolution).toEqual({ kind: 'unresolved', reason: 'patient-not-found' })
  })

  it('reports an unknown Patient as patient-not-found', async () => {
    const resolution = await resolver.resolve({
      resourceType: 'Condition',
      id: `sr-${RUN}-unknown`,
      subject: { reference: `Patient/sr-${RUN}-never-stored` },
    })

    expect(resolution).toEqual({ kind: 'unresolved', reason: 'patient-not-found' })
  })

  it('reports a Group subject as not-a-patient', async () => {
    const group = await store<Group>({
      resourceType: 'Group',
      id: `sr-${RUN}-group`,
      type: 'person',
      actual: true,
    })
    const condition = await storeCondition('group', { reference: `Group/${group.id ?? ''}` })

    const resolution = await resolver.resolve(condition)

    expect(resolution).toEqual({ kind: 'not-a-patient', resourceType: 'Group' })
  })

  it('resolves a logical reference once the Patient appears', async () => {
    const condition = await storeCondition('logical', { identifier: mrn('logical-1') })

    const before = await resolver.resolve(condition)
    const patient = await storePatient('logical', [mrn('logical-1')])
    const after = await resolver.resolve(condition)

    expect(condition.subject.reference).toBeUndefined()
    expect(before).toEqual({ kind: 'unresolved', reason: 'identifier-not-found' })
    expect(after.kind).toBe('patient')
    expect(patientIdOf(after)).toBe(patient.id)
  })

  it('reports a shared identifier as ambiguous', async () => {
    await storePatient('twin-a', [mrn('shared-7')])
    await storePatient('twin-b', [mrn('shared-7')])
    const condition = await storeCondition('twin', { identifier: mrn('shared-7') })

    const resolution = await resolver.resolve(condition)

    expect(resolution).toEqual({ kind: 'unresolved', reason: 'identifier-ambiguous' })
  })

  it('matches separators in identifiers exactly', async () => {
    const patient = await storePatient('separators', [mrn('A,B|C$D')])
    await storePatient('separators-prefix', [mrn('A')])

    const exact = await resolver.resolve({
      resourceType: 'Condition',
      id: `sr-${RUN}-separators`,
      subject: { identifier: mrn('A,B|C$D') },
    })
    const partial = await resolver.resolve({
      resourceType: 'Condition',
      id: `sr-${RUN}-separators-partial`,
      subject: { identifier: mrn('B|C$D') },
    })

    expect(patientIdOf(exact)).toBe(patient.id)
    expect(partial).toEqual({ kind: 'unresolved', reason: 'identifier-not-found' })
  })

  it('keeps another system apart', async () => {
    await storePatient('other-system', [{ system: `${MRN_SYSTEM}/other`, value: 'system-9' }])

    const resolution = await resolver.resolve({
      resourceType: 'Condition',
      id: `sr-${RUN}-other-system`,
      subject: { identifier: mrn('system-9') },
    })

    expect(resolution).toEqual({ kind: 'unresolved', reason: 'identifier-not-found' })
  })
})
