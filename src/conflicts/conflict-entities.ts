import type { z } from '@hono/zod-openapi'
import {
  conditionFieldsOf,
  type ConditionRepository,
  type ConditionRow,
} from '../conditions/condition.repository.ts'
import {
  clinicalStatusSchema,
  conditionFieldsSchema,
  conditionTimingSchema,
  recordedDateSchema,
  verificationStatusSchema,
  type ConditionFields,
} from '../conditions/condition.schemas.ts'
import { enqueueConditionPush } from '../conditions/condition.service.ts'
import { validateConditionFields } from '../conditions/condition.validation.ts'
import type { NeurologyValueSet } from '../fhir/neurology-value-set.ts'
import { partValue, withPartValue, type FieldShape, type MergeView } from '../merge/field-merge.ts'
import type { ConditionMergeField, PatientMergeField } from '../merge/merge-rules.ts'
import {
  CONDITION_FIELD_SHAPES,
  PATIENT_FIELD_SHAPES,
  conditionFieldsFromMergeView,
  conditionMergeView,
  patientFieldOfMergeField,
  patientFieldsFromMergeView,
  patientMergeView,
} from '../merge/merge-views.ts'
import {
  patientFieldsOf,
  type PatientRepository,
  type PatientRow,
} from '../patients/patient.repository.ts'
import {
  patientFieldSchemas,
  patientFieldsSchema,
  type PatientFields,
} from '../patients/patient.schemas.ts'
import { enqueuePatientPush } from '../patients/patient.service.ts'
import type { Executor, SyncState } from '../platform/db.ts'
import type { FieldError } from '../platform/errors.ts'
import { fieldErrorsOf } from '../platform/validation.ts'
import {
  addressSchema,
  codeableConceptSchema,
  codingSchema,
  contactPointSchema,
  humanNameSchema,
  identifierSchema,
} from '../platform/fhir-datatypes.ts'
import type { EntityType, TransactionJobs } from '../platform/queue.ts'
import type { FieldChange, SyncedTable } from '../platform/sync-columns.ts'

/** A patient's or condition's mapped fields, keyed by field name. */
export type MappedFields = Record<string, unknown>

/** The columns of a patient or condition row that resolving a conflict reads. */
export interface EntitySnapshot {
  id: string
  version: number
  deletedAt: Date | null
  updatedAt: Date
  fhirVersionId: number | null
  fhirLastUpdated: Date | null
  syncState: SyncState
  /** Mapped fields of the last FHIR version both sides agreed on; null before the first. */
  syncBase: MappedFields | null
  fields: MappedFields
  /** The condition's patient; null for a patient. */
  patientId: string | null
}

/** Operations on a patient or condition that the conflict service uses, so it serves both. */
export interface ConflictEntity {
  entityType: EntityType
  table: SyncedTable
  /** The entity's name in messages. */
  label: 'Patient' | 'Condition'
  shapes: Readonly<Record<string, FieldShape>>
  /** Reads the row, deleted or not; `forUpdate` locks it for the rest of the transaction. */
  load(
    db: Executor,
    id: string,
    options?: { forUpdate?: boolean },
  ): Promise<EntitySnapshot | undefined>
  mergeView(fields: MappedFields): MergeView
  fieldsOfMergeView(view: MergeView): MappedFields
  /** Maps a merge field to its column-level field, as `field_changed_at` names it. */
  columnFieldOf(field: string): string
  /** Schema of a part: the whole field when `itemKey` is null, else one element or coding. */
  partSchema(field: string, itemKey: string | null): z.ZodType | undefined
  /** Checks whole fields as an API write of the entity does; returns one error per problem. */
  validateFields(fields: MappedFields): FieldError[]
  /** Replaces the mapped fields, bumps the version and marks the row pending. */
  writeFields(
    db: Executor,
    id: string,
    fields: MappedFields,
    change: FieldChange,
  ): Promise<EntitySnapshot>
  enqueuePush(jobs: TransactionJobs, id: string): Promise<void>
}

/** Key under which `partValue` finds a concept's text and other non-coding members. */
const CONCEPT_TEXT_KEY = 'text'

const conceptTextSchema = codeableConceptSchema.omit({ coding: true })

const PATIENT_FIELD_SCHEMAS: Record<PatientMergeField, z.ZodType> = {
  ...patientFieldSchemas,
  registryIdentifier: patientFieldSchemas.identifiers,
}

const PATIENT_ELEMENT_SCHEMAS: Partial<Record<PatientMergeField, z.ZodType>> = {
  names: humanNameSchema,
  identifiers: identifierSchema,
  registryIdentifier: identifierSchema,
  telecom: contactPointSchema,
  addresses: addressSchema,
}

const CONDITION_FIELD_SCHEMAS: Record<ConditionMergeField, z.ZodType> = {
  code: codeableConceptSchema,
  clinicalStatus: clinicalStatusSchema,
  verificationStatus: verificationStatusSchema,
  onset: conditionTimingSchema,
  abatement: conditionTimingSchema,
  recordedDate: recordedDateSchema,
}

function snapshotOf(
  row: PatientRow | ConditionRow,
  fields: MappedFields,
  patientId: string | null,
): EntitySnapshot {
  return {
    id: row.id,
    version: row.version,
    deletedAt: row.deleted_at,
    updatedAt: row.updated_at,
    fhirVersionId: row.fhir_version_id,
    fhirLastUpdated: row.fhir_last_updated,
    syncState: row.sync_state,
    syncBase: (row.sync_base ?? null) as MappedFields | null,
    fields,
    patientId,
  }
}

/**
 * Schema of one part. A list element or coding may be null, which removes it, as a conflict
 * records an element that one side removed.
 */
function partSchemaOf(
  shapes: Readonly<Record<string, FieldShape>>,
  fieldSchemas: Readonly<Record<string, z.ZodType>>,
  elementSchemas: Readonly<Record<string, z.ZodType | undefined>>,
  field: string,
  itemKey: string | null,
): z.ZodType | undefined {
  if (itemKey === null) return fieldSchemas[field]
  const shape = shapes[field]
  if (shape?.kind === 'concept') {
    return (itemKey === CONCEPT_TEXT_KEY ? conceptTextSchema : codingSchema).nullable()
  }
  return elementSchemas[field]?.nullable()
}

export function patientConflictEntity(
  patients: PatientRepository,
  registryIdentifierSystem: string,
): ConflictEntity {
  return {
    entityType: 'patient',
    table: 'patients',
    label: 'Patient',
    shapes: PATIENT_FIELD_SHAPES,
    async load(db, id, options = {}) {
      const row = await patients.findById(db, id, { ...options, includeDeleted: true })
      return row && snapshotOf(row, patientFieldsOf(row), null)
    },
    mergeView: (fields) => patientMergeView(fields as PatientFields, registryIdentifierSystem),
    fieldsOfMergeView: patientFieldsFromMergeView,
    columnFieldOf: patientFieldOfMergeField,
    partSchema: (field, itemKey) =>
      partSchemaOf(
        PATIENT_FIELD_SHAPES,
        PATIENT_FIELD_SCHEMAS,
        PATIENT_ELEMENT_SCHEMAS,
        field,
        itemKey,
      ),
    validateFields(fields) {
      const parsed = patientFieldsSchema.safeParse(fields)
      return parsed.success ? [] : fieldErrorsOf(parsed.error)
    },
    async writeFields(db, id, fields, change) {
      const row = await patients.updateFields(db, id, fields as PatientFields, change)
      return snapshotOf(row, patientFieldsOf(row), null)
    },
    enqueuePush: enqueuePatientPush,
  }
}

export function conditionConflictEntity(
  conditions: ConditionRepository,
  valueSet: NeurologyValueSet,
): ConflictEntity {
  return {
    entityType: 'condition',
    table: 'conditions',
    label: 'Condition',
    shapes: CONDITION_FIELD_SHAPES,
    async load(db, id, options = {}) {
      const row = await conditions.findById(db, id, { ...options, includeDeleted: true })
      return row && snapshotOf(row, conditionFieldsOf(row), row.patient_id)
    },
    mergeView: (fields) => conditionMergeView(fields as ConditionFields),
    fieldsOfMergeView: conditionFieldsFromMergeView,
    columnFieldOf: (field) => field,
    partSchema: (field, itemKey) =>
      partSchemaOf(CONDITION_FIELD_SHAPES, CONDITION_FIELD_SCHEMAS, {}, field, itemKey),
    validateFields(fields) {
      const parsed = conditionFieldsSchema.safeParse(fields)
      if (!parsed.success) return fieldErrorsOf(parsed.error)
      return validateConditionFields(parsed.data, valueSet)
    },
    async writeFields(db, id, fields, change) {
      const conditionFields = fields as ConditionFields
      const isNeurological = valueSet.containsAny(conditionFields.code.coding)
      const row = await conditions.updateFields(db, id, conditionFields, isNeurological, change)
      return snapshotOf(row, conditionFieldsOf(row), row.patient_id)
    },
    enqueuePush: enqueueConditionPush,
  }
}

/**
 * Reads one part of a field's value; undefined when the part is absent. A conflict without an
 * item key is about the whole field, whatever the field's shape.
 */
export function readPart(shape: FieldShape, value: unknown, itemKey: string | null): unknown {
  return itemKey === null ? (value ?? null) : partValue(shape, value, itemKey)
}

/**
 * Returns the field's value with one part set to `part`. A null or undefined part removes a list
 * element or coding. A whole list or concept that becomes null is stored empty instead, because
 * those columns are never null.
 */
export function writePart(
  shape: FieldShape,
  value: unknown,
  itemKey: string | null,
  part: unknown,
): unknown {
  if (itemKey !== null) return withPartValue(shape, value, itemKey, part ?? undefined)
  if (part !== null && part !== undefined) return part
  if (shape.kind === 'list') return []
  return shape.kind === 'concept' ? {} : null
}
