import type {
  Address,
  Condition,
  ContactPoint,
  Deceased,
  HumanName,
  Identifier,
  PatientFields,
} from './patient-types.ts'

/** Formats a name as one line: prefix, given names, family name, suffix, then its use in brackets. */
export function formatName(name: HumanName): string {
  const parts = [...(name.prefix ?? []), ...(name.given ?? []), name.family, ...(name.suffix ?? [])]
  const text = parts.filter((part) => part !== undefined && part !== '').join(' ')
  return withUse(text === '' ? (name.text ?? '(no name parts)') : text, name.use)
}

/** Returns the name to show in lists and headings (the official one, else the first). */
export function primaryName(names: readonly HumanName[]): string {
  const name = names.find((candidate) => candidate.use === 'official') ?? names[0]
  if (name === undefined) return '(no name)'
  const parts = [...(name.given ?? []), name.family].filter((part) => part !== undefined)
  return parts.length === 0 ? (name.text ?? '(no name)') : parts.join(' ')
}

export function formatIdentifier(identifier: Identifier): string {
  const text = `${identifier.system ?? '(no system)'}|${identifier.value ?? ''}`
  return withUse(text, identifier.use)
}

export function formatContactPoint(contact: ContactPoint): string {
  const text = `${contact.system ?? 'contact'}: ${contact.value ?? '(no value)'}`
  return withUse(text, contact.use)
}

export function formatAddress(address: Address): string {
  const parts = [
    ...(address.line ?? []),
    address.postalCode,
    address.city,
    address.district,
    address.state,
    address.country,
  ].filter((part) => part !== undefined && part !== '')
  const text = parts.length === 0 ? (address.text ?? '(empty address)') : parts.join(', ')
  return withUse(text, address.use)
}

export function formatDeceased(deceased: Deceased): string {
  if (deceased === null) return 'not recorded'
  if ('boolean' in deceased) return deceased.boolean ? 'yes' : 'no'
  return `died ${deceased.dateTime}`
}

function withUse(text: string, use: string | undefined): string {
  return use === undefined ? text : `${text} (${use})`
}

/** One row of the side-by-side table: a mapped field as lines of text on each side. */
export interface FieldComparison {
  field: keyof PatientFields
  label: string
  registry: string[]
  fhir: string[]
  differs: boolean
}

const FIELD_LABELS: Record<keyof PatientFields, string> = {
  names: 'Names',
  birthDate: 'Birth date',
  gender: 'Gender',
  telecom: 'Telecom',
  addresses: 'Addresses',
  identifiers: 'Identifiers',
  deceased: 'Deceased',
}

/** The mapped fields in the order the patient view lists them. */
export const COMPARED_FIELDS = Object.keys(FIELD_LABELS) as (keyof PatientFields)[]

function linesOf(fields: PatientFields, field: keyof PatientFields): string[] {
  switch (field) {
    case 'names':
      return fields.names.map(formatName)
    case 'birthDate':
      return fields.birthDate === null ? [] : [fields.birthDate]
    case 'gender':
      return fields.gender === null ? [] : [fields.gender]
    case 'telecom':
      return fields.telecom.map(formatContactPoint)
    case 'addresses':
      return fields.addresses.map(formatAddress)
    case 'identifiers':
      return fields.identifiers.map(formatIdentifier)
    case 'deceased':
      return fields.deceased === null ? [] : [formatDeceased(fields.deceased)]
  }
}

function compareText(left: string, right: string): number {
  if (left === right) return 0
  return left < right ? -1 : 1
}

/**
 * Serializes `value` as JSON with object keys sorted, so two values that differ only in key order
 * compare equal, as the registry's merge compares them.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([left], [right]) => compareText(left, right))
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

/**
 * True when two values of one field differ. List elements are compared as a set, because the
 * merge matches them by natural key (system and value, use) and their order carries no meaning.
 */
export function fieldValuesDiffer(registry: unknown, fhir: unknown): boolean {
  if (Array.isArray(registry) && Array.isArray(fhir)) {
    const left = registry.map(canonicalJson).sort()
    const right = fhir.map(canonicalJson).sort()
    return left.join('\n') !== right.join('\n')
  }
  return canonicalJson(registry) !== canonicalJson(fhir)
}

/** Compares the registry's fields with the FHIR resource's mapped fields, one row per field. */
export function compareFields(registry: PatientFields, fhir: PatientFields): FieldComparison[] {
  return COMPARED_FIELDS.map((field) => ({
    field,
    label: FIELD_LABELS[field],
    registry: linesOf(registry, field),
    fhir: linesOf(fhir, field),
    differs: fieldValuesDiffer(registry[field], fhir[field]),
  }))
}

const CODE_SYSTEM_NAMES: Record<string, string> = {
  'http://snomed.info/sct': 'SNOMED CT',
  'http://hl7.org/fhir/sid/icd-10-cm': 'ICD-10-CM',
}

/** Returns the condition's display: the first coding's display, else the code's text. */
export function conditionDisplay(condition: Pick<Condition, 'code'>): string {
  const display = condition.code.coding?.find((coding) => coding.display)?.display
  return display ?? condition.code.text ?? '(no display)'
}

/** Lists each coding as its system's short name (or URI) and code, such as `SNOMED CT 24700007`. */
export function conditionCodes(condition: Pick<Condition, 'code'>): string[] {
  return (condition.code.coding ?? []).map((coding) => {
    const system = coding.system ?? '(no system)'
    return `${CODE_SYSTEM_NAMES[system] ?? system} ${coding.code ?? ''}`.trim()
  })
}
