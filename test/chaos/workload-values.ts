import type { Condition as FhirCondition, Patient as FhirPatient } from '@medplum/fhirtypes'
import { CLINICAL_STATUSES } from '../../src/conditions/condition.schemas.ts'
import { CONDITION_CLINICAL_STATUS, SNOMED_CT } from '../../src/fhir/constants.ts'
import type { Random } from './random.ts'

/** Patient fields the workload edits on both sides. */
export const EDITED_PATIENT_FIELDS = ['names', 'telecom', 'gender', 'addresses'] as const
export type EditedPatientField = (typeof EDITED_PATIENT_FIELDS)[number]

/** Condition fields the workload edits on both sides. */
export const EDITED_CONDITION_FIELDS = ['clinicalStatus', 'onset', 'abatement'] as const
export type EditedConditionField = (typeof EDITED_CONDITION_FIELDS)[number]

/** Clinical statuses FHIR R4 allows beside an abatement (invariant con-4); the API checks it. */
export const ABATED_STATUSES = ['inactive', 'resolved', 'remission'] as const

/** Codes from the registry's neurological value set, so every condition enrols its patient. */
export const NEUROLOGY_CODINGS = [
  { system: SNOMED_CT, code: '24700007', display: 'Multiple sclerosis' },
  { system: SNOMED_CT, code: '84757009', display: 'Epilepsy' },
  { system: SNOMED_CT, code: '49049000', display: "Parkinson's disease" },
  { system: SNOMED_CT, code: '37796009', display: 'Migraine' },
] as const

/** System of the medical record numbers the chaos test's hospital issues. */
export const CHAOS_MRN_SYSTEM = 'urn:oid:2.16.840.1.113883.19.5.99999.77'

const GENDERS = ['male', 'female', 'other', 'unknown'] as const
const GIVEN_NAMES = ['Ada', 'Ben', 'Cleo', 'Dev', 'Eli', 'Fay', 'Gus', 'Hana'] as const
const CITIES = ['Aarhus', 'Bergen', 'Cork', 'Delft', 'Espoo', 'Fribourg', 'Graz'] as const

/**
 * Makes the values one workload loop writes. Names, telecoms, addresses and dates carry the
 * loop's tag and a counter, so every write can be found again in the final state, the conflicts and
 * the audit log.
 */
export class ValueSource {
  readonly #tag: string
  readonly #random: Random
  #counter = 0

  constructor(tag: string, random: Random) {
    this.#tag = tag
    this.#random = random
  }

  /** Returns a new value of a patient field, in the registry's representation. */
  patientValue(field: EditedPatientField): unknown {
    const n = ++this.#counter
    switch (field) {
      case 'names':
        return [
          { use: 'official', family: `Chaos${this.#tag}n${n}`, given: [this.#pick(GIVEN_NAMES)] },
        ]
      case 'telecom':
        return [{ system: 'phone', value: `+1 555 ${this.#tag} ${n}`, use: 'mobile' }]
      case 'gender':
        return this.#pick(GENDERS)
      case 'addresses':
        return [
          {
            use: 'home',
            line: [`${n} ${this.#tag} Street`],
            city: this.#pick(CITIES),
            postalCode: String(10_000 + n),
          },
        ]
    }
  }

  birthDate(): string {
    return `${this.#random.int(1930, 2005)}-${pad(this.#random.int(1, 12))}-${pad(this.#random.int(1, 28))}`
  }

  /** Returns a date from 1990 to 2024 in the `{ dateTime }` form of onset[x] and abatement[x]. */
  timing(): { dateTime: string } {
    const year = this.#random.int(1990, 2024)
    return { dateTime: `${year}-${pad(this.#random.int(1, 12))}-${pad(this.#random.int(1, 28))}` }
  }

  /** Returns a clinical status, one that FHIR allows beside an abatement when `abated` is true. */
  clinicalStatus(abated: boolean): string {
    return abated ? this.#pick(ABATED_STATUSES) : this.#pick(CLINICAL_STATUSES)
  }

  coding(): (typeof NEUROLOGY_CODINGS)[number] {
    return this.#pick(NEUROLOGY_CODINGS)
  }

  medicalRecordNumber(): string {
    return `MRN-${this.#tag}-${++this.#counter}`
  }

  #pick<T>(items: readonly T[]): T {
    return this.#random.pick(items)
  }
}

function pad(value: number): string {
  return String(value).padStart(2, '0')
}

/** Writes a patient field, given in the registry's representation, onto a FHIR Patient. */
export function setPatientField(
  resource: FhirPatient,
  field: EditedPatientField,
  value: unknown,
): void {
  switch (field) {
    case 'names':
      resource.name = value as FhirPatient['name']
      return
    case 'telecom':
      resource.telecom = value as FhirPatient['telecom']
      return
    case 'gender':
      resource.gender = value as FhirPatient['gender']
      return
    case 'addresses':
      resource.address = value as FhirPatient['address']
      return
  }
}

/** Writes a condition field, given in the registry's representation, onto a FHIR Condition. */
export function setConditionField(
  resource: FhirCondition,
  field: EditedConditionField,
  value: unknown,
): void {
  switch (field) {
    case 'clinicalStatus':
      resource.clinicalStatus = {
        coding: [{ system: CONDITION_CLINICAL_STATUS, code: value as string }],
      }
      return
    case 'onset':
      delete resource.onsetAge
      delete resource.onsetPeriod
      delete resource.onsetRange
      delete resource.onsetString
      resource.onsetDateTime = (value as { dateTime: string }).dateTime
      return
    case 'abatement':
      delete resource.abatementAge
      delete resource.abatementPeriod
      delete resource.abatementRange
      delete resource.abatementString
      delete resource.abatementDateTime
      if (value !== null) resource.abatementDateTime = (value as { dateTime: string }).dateTime
      return
  }
}

/** True when the FHIR Condition has an abatement of any type. */
export function hasAbatement(resource: FhirCondition): boolean {
  return (
    resource.abatementDateTime !== undefined ||
    resource.abatementAge !== undefined ||
    resource.abatementPeriod !== undefined ||
    resource.abatementRange !== undefined ||
    resource.abatementString !== undefined
  )
}
