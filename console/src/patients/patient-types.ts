/** Shapes of the API's patient and condition bodies that the patient pages read. */

export interface HumanName {
  use?: string
  text?: string
  family?: string
  given?: string[]
  prefix?: string[]
  suffix?: string[]
}

export interface Identifier {
  use?: string
  system?: string
  value?: string
}

export interface ContactPoint {
  system?: string
  value?: string
  use?: string
}

export interface Address {
  use?: string
  text?: string
  line?: string[]
  city?: string
  district?: string
  state?: string
  postalCode?: string
  country?: string
}

export type Deceased = { boolean: boolean } | { dateTime: string } | null

/** The patient fields the registry keeps in step with the FHIR Patient. */
export interface PatientFields {
  names: HumanName[]
  birthDate: string | null
  gender: string | null
  identifiers: Identifier[]
  telecom: ContactPoint[]
  addresses: Address[]
  deceased: Deceased
}

export type SyncState = 'pending' | 'synced' | 'conflict' | 'failed'

export interface SyncStatus {
  fhirId: string | null
  fhirVersionId: number | null
  state: SyncState
  error: string | null
}

export interface Patient extends PatientFields {
  id: string
  source: 'registry' | 'external'
  version: number
  createdAt: string
  updatedAt: string
  updatedBy: string
  sync: SyncStatus
}

export interface PatientPage {
  items: Patient[]
  nextCursor: string | null
}

/** `GET /patients/{id}/fhir`: the current FHIR Patient and its mapped fields. */
export interface PatientFhirView {
  reference: string
  versionId: string | null
  lastUpdated: string | null
  source: string | null
  resource: Record<string, unknown>
  mapped: PatientFields
}

export interface Coding {
  system?: string
  code?: string
  display?: string
}

export interface Condition {
  id: string
  patientId: string
  code: { coding?: Coding[]; text?: string }
  clinicalStatus: string | null
  verificationStatus: string | null
  isNeurological: boolean
  version: number
  sync: SyncStatus
}

export interface ConditionPage {
  items: Condition[]
  nextCursor: string | null
}
