import type { CodeableConcept, Condition as FhirCondition } from '@medplum/fhirtypes'
import type { ConditionFields, ConditionTiming } from '../conditions/condition.schemas.ts'
import { CONDITION_CLINICAL_STATUS, CONDITION_VERIFICATION_STATUS } from './constants.ts'
import { setValue } from './patient-mapping.ts'

const TIMING_SUFFIXES = ['DateTime', 'Age', 'Period', 'Range', 'String'] as const
type TimingSuffix = (typeof TIMING_SUFFIXES)[number]
type TimingKey = 'dateTime' | 'age' | 'period' | 'range' | 'string'

function timingKey(suffix: TimingSuffix): TimingKey {
  return (suffix.charAt(0).toLowerCase() + suffix.slice(1)) as TimingKey
}

function readTiming(resource: FhirCondition, prefix: 'onset' | 'abatement'): ConditionTiming {
  const record = resource as unknown as Record<string, unknown>
  for (const suffix of TIMING_SUFFIXES) {
    const value = record[`${prefix}${suffix}`]
    if (value !== undefined) return { [timingKey(suffix)]: value } as ConditionTiming
  }
  return null
}

function writeTiming(
  resource: FhirCondition,
  prefix: 'onset' | 'abatement',
  timing: ConditionTiming,
): void {
  const record = resource as unknown as Record<string, unknown>
  for (const suffix of TIMING_SUFFIXES) {
    const key = `${prefix}${suffix}`
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- the choice type's keys are a closed list
    delete record[key]
    if (timing && timingKey(suffix) in timing) {
      record[key] = (timing as Record<string, unknown>)[timingKey(suffix)]
    }
  }
}

function statusCode(concept: CodeableConcept | undefined, system: string): string | null {
  return (
    concept?.coding?.find((coding) => coding.system === system)?.code ??
    concept?.coding?.[0]?.code ??
    null
  )
}

function statusConcept(
  current: CodeableConcept | undefined,
  system: string,
  code: string | null,
): CodeableConcept | undefined {
  if (code === null) return undefined
  // Keep the hospital's own concept (display, text) when its code is unchanged.
  if (statusCode(current, system) === code) return current
  return { coding: [{ system, code }] }
}

/** Reads the mapped fields out of a FHIR Condition; the subject is read by the caller. */
export function conditionFieldsFromResource(resource: FhirCondition): ConditionFields {
  return {
    code: (resource.code ?? {}) as ConditionFields['code'],
    clinicalStatus: statusCode(resource.clinicalStatus, CONDITION_CLINICAL_STATUS),
    verificationStatus: statusCode(resource.verificationStatus, CONDITION_VERIFICATION_STATUS),
    onset: readTiming(resource, 'onset'),
    abatement: readTiming(resource, 'abatement'),
    recordedDate: resource.recordedDate ?? null,
  }
}

/**
 * Writes the mapped fields and the subject onto a FHIR Condition, keeping the elements the
 * registry does not map (category, encounter, evidence...) from `current`.
 */
export function conditionResourceFromFields(
  fhirId: string,
  subjectFhirId: string,
  fields: ConditionFields,
  current?: FhirCondition,
): FhirCondition {
  const resource: FhirCondition = {
    ...current,
    resourceType: 'Condition',
    id: fhirId,
    subject: { ...current?.subject, reference: `Patient/${subjectFhirId}` },
  }
  const code: CodeableConcept = { ...fields.code }
  if (code.coding?.length === 0) delete code.coding
  // FHIR forbids an element with neither a value nor children, so an empty code is left out.
  setValue(resource, 'code', Object.keys(code).length > 0 ? code : null)
  setValue(
    resource,
    'clinicalStatus',
    statusConcept(current?.clinicalStatus, CONDITION_CLINICAL_STATUS, fields.clinicalStatus),
  )
  setValue(
    resource,
    'verificationStatus',
    statusConcept(
      current?.verificationStatus,
      CONDITION_VERIFICATION_STATUS,
      fields.verificationStatus,
    ),
  )
  writeTiming(resource, 'onset', fields.onset)
  writeTiming(resource, 'abatement', fields.abatement)
  setValue(resource, 'recordedDate', fields.recordedDate)
  return resource
}

/** Extracts the id of a `Patient/<id>` reference; returns null for any other reference. */
export function patientIdFromReference(reference: string | undefined): string | null {
  const match = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/\d+)?$/.exec(
    reference ?? '',
  )
  return match?.[1] ?? null
}
