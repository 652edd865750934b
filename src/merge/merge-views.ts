import type { ConditionFields } from '../conditions/condition.schemas.ts'
import type { PatientFields } from '../patients/patient.schemas.ts'
import type { FieldShape, MergeView } from './field-merge.ts'
import type { ConditionMergeField, PatientMergeField } from './merge-rules.ts'

function text(value: unknown): string {
  return typeof value === 'string' ? value : ''
}

/** An element without a `use` is keyed by this word. */
const NO_USE = '(no use)'

/** Natural keys of the list fields: identifiers and telecoms by system and value, names and addresses by use. */
export const PATIENT_FIELD_SHAPES: Readonly<Record<PatientMergeField, FieldShape>> = {
  names: { kind: 'list', keyOf: (name) => text(name.use) || NO_USE },
  birthDate: { kind: 'value' },
  gender: { kind: 'value' },
  identifiers: {
    kind: 'list',
    keyOf: (identifier) => `${text(identifier.system)}|${text(identifier.value)}`,
  },
  registryIdentifier: {
    kind: 'list',
    keyOf: (identifier) => `${text(identifier.system)}|${text(identifier.value)}`,
  },
  telecom: { kind: 'list', keyOf: (point) => `${text(point.system)}|${text(point.value)}` },
  addresses: { kind: 'list', keyOf: (address) => text(address.use) || NO_USE },
  deceased: { kind: 'value' },
}

export const CONDITION_FIELD_SHAPES: Readonly<Record<ConditionMergeField, FieldShape>> = {
  code: { kind: 'concept' },
  clinicalStatus: { kind: 'value' },
  verificationStatus: { kind: 'value' },
  onset: { kind: 'value' },
  abatement: { kind: 'value' },
  recordedDate: { kind: 'value' },
}

/**
 * Converts the patient to the merge's terms: the identifier the registry issues is its own field
 * (`registryIdentifier`), apart from the hospital's identifiers, because the two have different
 * owners.
 */
export function patientMergeView(fields: PatientFields, registrySystem: string): MergeView {
  return {
    ...fields,
    identifiers: fields.identifiers.filter((identifier) => identifier.system !== registrySystem),
    registryIdentifier: fields.identifiers.filter(
      (identifier) => identifier.system === registrySystem,
    ),
  }
}

/** Puts the registry identifier back among the identifiers, after the hospital's. */
export function patientFieldsFromMergeView(view: MergeView): PatientFields {
  const { registryIdentifier, ...fields } = view as PatientFields & {
    registryIdentifier: PatientFields['identifiers']
  }
  return { ...fields, identifiers: [...fields.identifiers, ...registryIdentifier] }
}

/** Maps a merge field to the patient field it is stored in, for change times and audit. */
export function patientFieldOfMergeField(field: string): string {
  return field === 'registryIdentifier' ? 'identifiers' : field
}

export function conditionMergeView(fields: ConditionFields): MergeView {
  return { ...fields }
}

export function conditionFieldsFromMergeView(view: MergeView): ConditionFields {
  return view as ConditionFields
}
