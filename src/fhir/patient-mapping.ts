import type { Patient as FhirPatient } from '@medplum/fhirtypes'
import type { PatientFields } from '../patients/patient.schemas.ts'

/**
 * Reads the mapped fields out of a FHIR Patient. Elements are copied whole (periods and
 * extensions inside a name stay), so a value read here and written back is unchanged.
 */
export function patientFieldsFromResource(resource: FhirPatient): PatientFields {
  let deceased: PatientFields['deceased'] = null
  if (resource.deceasedDateTime !== undefined) deceased = { dateTime: resource.deceasedDateTime }
  else if (resource.deceasedBoolean !== undefined) deceased = { boolean: resource.deceasedBoolean }

  return {
    names: (resource.name ?? []) as PatientFields['names'],
    birthDate: resource.birthDate ?? null,
    gender: resource.gender ?? null,
    identifiers: (resource.identifier ?? []) as PatientFields['identifiers'],
    telecom: (resource.telecom ?? []) as PatientFields['telecom'],
    addresses: (resource.address ?? []) as PatientFields['addresses'],
    deceased,
  }
}

/**
 * Writes the mapped fields onto a FHIR Patient. Starting from `current` keeps every element the
 * registry does not map (extensions, marital status, contacts...) as the hospital wrote it.
 */
export function patientResourceFromFields(
  fhirId: string,
  fields: PatientFields,
  current?: FhirPatient,
): FhirPatient {
  const resource: FhirPatient = { ...current, resourceType: 'Patient', id: fhirId }
  delete resource.deceasedBoolean
  delete resource.deceasedDateTime
  setList(resource, 'name', fields.names)
  setList(resource, 'identifier', fields.identifiers)
  setList(resource, 'telecom', fields.telecom)
  setList(resource, 'address', fields.addresses)
  setValue(resource, 'birthDate', fields.birthDate)
  setValue(resource, 'gender', fields.gender)
  if (fields.deceased && 'dateTime' in fields.deceased) {
    resource.deceasedDateTime = fields.deceased.dateTime
  } else if (fields.deceased) {
    resource.deceasedBoolean = fields.deceased.boolean
  }
  return resource
}

/** Sets an array element, leaving it out when empty, because FHIR forbids empty arrays. */
export function setList<T extends object>(
  target: T,
  key: keyof T,
  value: readonly unknown[],
): void {
  if (value.length === 0) Reflect.deleteProperty(target, key)
  else Reflect.set(target, key, value)
}

/** Sets a primitive or complex element, leaving it out when null. */
export function setValue<T extends object>(target: T, key: keyof T, value: unknown): void {
  if (value === null || value === undefined) Reflect.deleteProperty(target, key)
  else Reflect.set(target, key, value)
}
