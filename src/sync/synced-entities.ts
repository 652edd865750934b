import type {
  Condition as FhirCondition,
  Patient as FhirPatient,
  Resource,
} from '@medplum/fhirtypes'
import {
  conditionFieldsOf,
  type ConditionRepository,
  type ConditionRow,
} from '../conditions/condition.repository.ts'
import type { ConditionFields } from '../conditions/condition.schemas.ts'
import { conditionFieldsFromResource } from '../fhir/condition-mapping.ts'
import type { NeurologyValueSet } from '../fhir/neurology-value-set.ts'
import { patientFieldsFromResource } from '../fhir/patient-mapping.ts'
import {
  patientFieldsOf,
  type PatientRepository,
  type PatientRow,
} from '../patients/patient.repository.ts'
import type { PatientFields } from '../patients/patient.schemas.ts'
import type { Executor } from '../platform/db.ts'
import type { EntityType } from '../platform/queue.ts'
import type { SyncedTable } from '../platform/sync-columns.ts'

/** Per-type operations of a synced entity, so that one merge serves patients and conditions. */
export interface SyncedEntity<
  Row extends SyncedRow,
  Fields extends Record<string, unknown>,
  R extends Resource,
> {
  entityType: EntityType
  resourceType: R['resourceType']
  table: SyncedTable
  findByFhirId(
    db: Executor,
    fhirId: string,
    options?: { forUpdate?: boolean },
  ): Promise<Row | undefined>
  fieldsOfRow(row: Row): Fields
  fieldsOfResource(resource: R): Fields
  /**
   * Restores what the registry owns, whatever the FHIR version contains. A FHIR edit that drops
   * the registry identifier gets it back, and the push writes it to FHIR again.
   */
  keepRegistryOwned: (registry: Fields, merged: Fields) => Fields
  updateFields(
    db: Executor,
    row: Row,
    fields: Fields,
    change: { updatedBy: string; updatedAt: Date },
  ): Promise<Row>
}

export interface SyncedRow {
  id: string
  version: number
  updated_at: Date
  deleted_at: Date | null
  fhir_id: string | null
  fhir_version_id: number | null
  sync_base: unknown
}

export type PatientEntity = SyncedEntity<PatientRow, PatientFields, FhirPatient>
export type ConditionEntity = SyncedEntity<ConditionRow, ConditionFields, FhirCondition>

export function patientEntity(
  patients: PatientRepository,
  registryIdentifierSystem: string,
): PatientEntity {
  return {
    entityType: 'patient',
    resourceType: 'Patient',
    table: 'patients',
    findByFhirId: (db, fhirId, options) => patients.findByFhirId(db, fhirId, options),
    fieldsOfRow: patientFieldsOf,
    fieldsOfResource: patientFieldsFromResource,
    keepRegistryOwned: (registry, merged) => {
      const own = registry.identifiers.filter(
        (identifier) => identifier.system === registryIdentifierSystem,
      )
      const missing = own.filter(
        (identifier) =>
          !merged.identifiers.some(
            (kept) => kept.value === identifier.value && kept.system === identifier.system,
          ),
      )
      return missing.length === 0
        ? merged
        : { ...merged, identifiers: [...merged.identifiers, ...missing] }
    },
    updateFields: (db, row, fields, change) => patients.updateFields(db, row.id, fields, change),
  }
}

export function conditionEntity(
  conditions: ConditionRepository,
  valueSet: NeurologyValueSet,
): ConditionEntity {
  return {
    entityType: 'condition',
    resourceType: 'Condition',
    table: 'conditions',
    findByFhirId: (db, fhirId, options) => conditions.findByFhirId(db, fhirId, options),
    fieldsOfRow: conditionFieldsOf,
    fieldsOfResource: conditionFieldsFromResource,
    keepRegistryOwned: (_registry, merged) => merged,
    updateFields: (db, row, fields, change) =>
      conditions.updateFields(db, row.id, fields, valueSet.containsAny(fields.code.coding), change),
  }
}
