import type { Condition as FhirCondition, Patient as FhirPatient } from '@medplum/fhirtypes'
import type { AuditRow } from '../../src/audit/audit.repository.ts'
import { conditionFieldsOf, type ConditionRow } from '../../src/conditions/condition.repository.ts'
import { DELETION_FIELD, type ConflictRow } from '../../src/conflicts/conflict.repository.ts'
import { conditionFieldsFromResource } from '../../src/fhir/condition-mapping.ts'
import { patientFieldsFromResource } from '../../src/fhir/patient-mapping.ts'
import { partValue, type FieldShape, type MergeView } from '../../src/merge/field-merge.ts'
import {
  CONDITION_FIELD_SHAPES,
  PATIENT_FIELD_SHAPES,
  conditionMergeView,
  patientMergeView,
} from '../../src/merge/merge-views.ts'
import { patientFieldsOf, type PatientRow } from '../../src/patients/patient.repository.ts'
import { canonicalJson, sameValue } from '../../src/platform/canonical-json.ts'
import { DEAD_LETTER_QUEUES, QUEUES } from '../../src/platform/queue.ts'
import type { FinalState } from './final-state.ts'
import type { PendingJob } from './quiesce.ts'
import type { Edit, EntityType, WorkloadLog } from './workload-log.ts'

type Row = PatientRow | ConditionRow

/** The rows, conflicts and audit entries of the final state, indexed for the checks. */
class Index {
  readonly state: FinalState
  readonly #rowsByFhirId = { patient: new Map<string, Row>(), condition: new Map<string, Row>() }
  readonly #patientsById = new Map<string, PatientRow>()
  readonly #conditionsByPatient = new Map<string, ConditionRow[]>()
  readonly #conflicts = new Map<string, ConflictRow[]>()
  readonly #audit = new Map<string, AuditRow[]>()

  constructor(state: FinalState) {
    this.state = state
    for (const row of state.patients) {
      this.#patientsById.set(row.id, row)
      if (row.fhir_id !== null) this.#rowsByFhirId.patient.set(row.fhir_id, row)
    }
    for (const row of state.conditions) {
      if (row.fhir_id !== null) this.#rowsByFhirId.condition.set(row.fhir_id, row)
      append(this.#conditionsByPatient, row.patient_id, row)
    }
    for (const conflict of state.conflicts) {
      append(this.#conflicts, `${conflict.entity_type} ${conflict.entity_id}`, conflict)
    }
    for (const entry of state.audit) {
      append(this.#audit, `${entry.entity_type} ${entry.entity_id}`, entry)
    }
  }

  rowByFhirId(entityType: EntityType, fhirId: string): Row | undefined {
    return this.#rowsByFhirId[entityType].get(fhirId)
  }

  patient(id: string): PatientRow | undefined {
    return this.#patientsById.get(id)
  }

  conflicts(entityType: EntityType, id: string): ConflictRow[] {
    return this.#conflicts.get(`${entityType} ${id}`) ?? []
  }

  openConflicts(entityType: EntityType, id: string): ConflictRow[] {
    return this.conflicts(entityType, id).filter((conflict) => conflict.status === 'open')
  }

  /** True when the entity has an open `(deleted)` conflict, a delete on one side against an edit. */
  hasDeletionConflict(entityType: EntityType, id: string): boolean {
    return this.openConflicts(entityType, id).some(
      (conflict) => conflict.field_path === DELETION_FIELD,
    )
  }

  /**
   * True when the registry deleted the row and an open `(deleted)` conflict keeps that delete from
   * FHIR. A deleted patient and its deleted conditions go to FHIR in one transaction, which waits
   * as a whole. So a patient's delete also waits for such a conflict of one of its deleted
   * conditions, and a condition deleted with its patient waits for whatever keeps the patient's
   * delete back.
   */
  deleteHeld(entityType: EntityType, row: Row): boolean {
    if (row.deleted_at === null) return false
    if (this.hasDeletionConflict(entityType, row.id)) return true
    if (entityType === 'patient') {
      const conditions = this.#conditionsByPatient.get(row.id) ?? []
      return conditions.some(
        (condition) =>
          condition.deleted_at !== null && this.hasDeletionConflict('condition', condition.id),
      )
    }
    const patient = this.patient((row as ConditionRow).patient_id)
    return patient !== undefined && this.deleteHeld('patient', patient)
  }

  audit(entityType: EntityType, id: string): AuditRow[] {
    return this.#audit.get(`${entityType} ${id}`) ?? []
  }

  /** The row's mapped fields and HAPI's, both in the merge's terms, with the field shapes. */
  views(
    entityType: EntityType,
    row: Row,
    resource: FhirPatient | FhirCondition,
  ): { registry: MergeView; fhir: MergeView; shapes: Readonly<Record<string, FieldShape>> } {
    if (entityType === 'patient') {
      const system = this.state.identifierSystem
      return {
        registry: patientMergeView(patientFieldsOf(row as PatientRow), system),
        fhir: patientMergeView(patientFieldsFromResource(resource as FhirPatient), system),
        shapes: PATIENT_FIELD_SHAPES,
      }
    }
    return {
      registry: conditionMergeView(conditionFieldsOf(row as ConditionRow)),
      fhir: conditionMergeView(conditionFieldsFromResource(resource as FhirCondition)),
      shapes: CONDITION_FIELD_SHAPES,
    }
  }

  fhirResource(entityType: EntityType, fhirId: string): FhirPatient | FhirCondition | undefined {
    return entityType === 'patient'
      ? this.state.fhirPatients.get(fhirId)
      : this.state.fhirConditions.get(fhirId)
  }
}

function append<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key)
  if (list) list.push(value)
  else map.set(key, [value])
}

function json(value: unknown): string {
  const text = canonicalJson(value ?? null)
  return text.length > 200 ? `${text.slice(0, 200)}...` : text
}

function describeRow(entityType: EntityType, row: Row): string {
  const resourceType = entityType === 'patient' ? 'Patient' : 'Condition'
  return `${entityType} ${row.id} (${resourceType}/${row.fhir_id ?? '?'}, ${row.sync_state}, v${row.version}, fhir v${row.fhir_version_id ?? '-'})`
}

/** Natural keys of the parts of a field's value; see FieldShape. */
function partKeys(shape: FieldShape, value: unknown): (string | null)[] {
  if (shape.kind === 'value') return [null]
  if (shape.kind === 'list') {
    const items: unknown[] = Array.isArray(value) ? value : []
    return items.map((item) => shape.keyOf(item as Record<string, unknown>))
  }
  const { coding } = (value ?? {}) as { coding?: { system?: string }[] }
  return [...(coding ?? []).map((item) => item.system ?? '(no system)'), 'text']
}

/**
 * FHIR ids of the Patients that left the registry's scope before the registry saw them: the
 * hospital deleted their Conditions before any merge read them, so HAPI contains a Patient without
 * a neurological Condition, which the registry rightly never enrols.
 */
function patientsOutOfScope(state: FinalState, log: WorkloadLog): Set<string> {
  const withConditions = new Set(
    [...state.fhirConditions.values()].map((condition) => condition.subject.reference ?? ''),
  )
  const lostConditions = new Set(
    log.deletions
      .filter((deletion) => deletion.side === 'fhir' && deletion.entityType === 'condition')
      .map((deletion) => deletion.patientFhirId),
  )
  const enrolled = new Set(state.patients.map((row) => row.fhir_id))
  return new Set(
    [...state.fhirPatients.keys()].filter(
      (fhirId) =>
        !enrolled.has(fhirId) &&
        !withConditions.has(`Patient/${fhirId}`) &&
        lostConditions.has(fhirId),
    ),
  )
}

/**
 * Compares every registry row with HAPI, field by field and part by part. A part that differs
 * must have exactly one open conflict (its field and item key). A deleted row must be gone from
 * HAPI unless an open `(deleted)` conflict keeps the delete back. Every Patient and Condition in
 * HAPI must have a registry row, because every Patient the workload creates there is
 * neurological, unless the hospital deleted its Conditions before the registry saw them.
 */
export function findDivergences(state: FinalState, log: WorkloadLog): string[] {
  const index = new Index(state)
  const outOfScope = patientsOutOfScope(state, log)
  const problems: string[] = []
  const rows: [EntityType, Row][] = [
    ...state.patients.map((row): [EntityType, Row] => ['patient', row]),
    ...state.conditions.map((row): [EntityType, Row] => ['condition', row]),
  ]
  for (const [entityType, row] of rows) {
    problems.push(...divergencesOfRow(index, entityType, row))
  }

  for (const [entityType, resources] of [
    ['patient', state.fhirPatients],
    ['condition', state.fhirConditions],
  ] as const) {
    for (const [fhirId, resource] of resources) {
      if (index.rowByFhirId(entityType, fhirId)) continue
      if (entityType === 'patient' && outOfScope.has(fhirId)) continue
      problems.push(
        `${resource.resourceType}/${fhirId} (v${resource.meta?.versionId ?? '?'}, source ${resource.meta?.source ?? '-'}) is in HAPI but no registry row has it`,
      )
    }
  }
  return problems
}

function divergencesOfRow(index: Index, entityType: EntityType, row: Row): string[] {
  const open = index.openConflicts(entityType, row.id)
  const resource = row.fhir_id === null ? undefined : index.fhirResource(entityType, row.fhir_id)
  const described = describeRow(entityType, row)

  if (row.deleted_at !== null) {
    if (resource && !index.deleteHeld(entityType, row)) {
      return [
        `${described} is deleted in the registry but HAPI still has v${resource.meta?.versionId ?? '?'}`,
      ]
    }
    return []
  }
  if (!resource) {
    // FHIR deleted the resource while the registry changed the row: the delete waits for a steward.
    if (index.hasDeletionConflict(entityType, row.id)) return []
    // A condition of a patient whose FHIR delete waits for a steward waits with it.
    if ('patient_id' in row && index.hasDeletionConflict('patient', row.patient_id)) return []
    return [`${described} is live in the registry but missing from HAPI`]
  }

  const problems: string[] = []
  if (entityType === 'condition') {
    const patient = index.patient((row as ConditionRow).patient_id)
    const subject = (resource as FhirCondition).subject.reference
    if (subject !== `Patient/${patient?.fhir_id ?? '?'}`) {
      problems.push(`${described} has subject ${subject ?? '-'} in HAPI, not its patient's`)
    }
  }
  const { registry, fhir, shapes } = index.views(entityType, row, resource)
  for (const [field, shape] of Object.entries(shapes)) {
    if (sameValue(registry[field], fhir[field])) continue
    const openOfField = open.filter((conflict) => conflict.field_path === field)
    const keys = new Set([
      ...partKeys(shape, registry[field]),
      ...partKeys(shape, fhir[field]),
      ...openOfField.map((conflict) => conflict.item_key),
    ])
    let differingParts = 0
    for (const key of keys) {
      const registryPart = partValue(shape, registry[field], key)
      const fhirPart = partValue(shape, fhir[field], key)
      if (sameValue(registryPart, fhirPart)) continue
      differingParts++
      const explained = openOfField.filter((conflict) => conflict.item_key === key)
      if (explained.length === 1) continue
      problems.push(
        `${described} ${field}${key === null ? '' : ` [${key}]`}: registry ${json(registryPart)}, HAPI ${json(fhirPart)}, ${explained.length} open conflicts`,
      )
    }
    if (differingParts === 0 && openOfField.length === 0) {
      problems.push(
        `${described} ${field} differs only in order: registry ${json(registry[field])}, HAPI ${json(fhir[field])}`,
      )
    }
  }
  return problems
}

/** Fields whose value is a list of elements, each merged on its own. */
const LIST_FIELDS = new Set(['names', 'telecom', 'addresses'])

/**
 * Checks that the last value each side wrote to each (entity, field) was not lost. Such a value
 * must be the final value (each element of it, for list fields), or appear in a conflict of the
 * entity (as the registry's or FHIR's value) or in an audit row of the entity (before or after).
 * Edits of an entity that the same side deleted later are left out, because that side's own
 * delete replaces them, and so are edits of Patients that left the registry's scope unseen.
 */
export function findLostEdits(state: FinalState, log: WorkloadLog, startedAt: number): string[] {
  const index = new Index(state)
  const deletedBy = new Set(
    log.deletions.map((deletion) => `${deletion.side} ${deletion.entityType} ${deletion.fhirId}`),
  )
  const outOfScope = patientsOutOfScope(state, log)
  const problems: string[] = []
  for (const edit of log.lastEdits()) {
    if (outOfScope.has(edit.patientFhirId)) continue
    const deletedBySameSide =
      deletedBy.has(`${edit.side} ${edit.entityType} ${edit.fhirId}`) ||
      deletedBy.has(`${edit.side} patient ${edit.patientFhirId}`)
    if (deletedBySameSide) continue
    const problem = lostEditProblem(index, edit, startedAt)
    if (problem !== null) problems.push(problem)
  }
  return problems
}

function lostEditProblem(index: Index, edit: Edit, startedAt: number): string | null {
  const description = `${edit.side} edit #${edit.seq} at +${((edit.at - startedAt) / 1000).toFixed(1)} s of ${edit.entityType} ${edit.fhirId} ${edit.field} = ${json(edit.value)}`
  const row = index.rowByFhirId(edit.entityType, edit.fhirId)
  if (!row) return `${description}: no registry row has this FHIR id`

  const fields: Record<string, unknown> =
    edit.entityType === 'patient'
      ? patientFieldsOf(row as PatientRow)
      : conditionFieldsOf(row as ConditionRow)
  const isList = LIST_FIELDS.has(edit.field)
  const atoms: unknown[] = isList ? (edit.value as unknown[]) : [edit.value]
  const candidates = [
    ...candidateValues(fields[edit.field], isList),
    ...index
      .conflicts(edit.entityType, row.id)
      .flatMap((conflict) => conflictValues(conflict, edit.field, isList)),
    ...index
      .audit(edit.entityType, row.id)
      .flatMap((entry) => [
        ...auditValues(entry.before, edit.field, isList),
        ...auditValues(entry.after, edit.field, isList),
      ]),
  ]
  const missing = atoms.filter((atom) => !candidates.some((value) => sameValue(value, atom)))
  if (missing.length === 0) return null

  const resource =
    row.fhir_id === null ? undefined : index.fhirResource(edit.entityType, row.fhir_id)
  const fhirFields: Record<string, unknown> | undefined =
    resource === undefined
      ? undefined
      : edit.entityType === 'patient'
        ? patientFieldsFromResource(resource as FhirPatient)
        : conditionFieldsFromResource(resource as FhirCondition)
  return `${description}: lost. ${describeRow(edit.entityType, row)}${row.deleted_at ? ' deleted' : ''} holds ${json(fields[edit.field])}, HAPI ${resource ? json(fhirFields?.[edit.field]) : 'has no resource'}; ${index.conflicts(edit.entityType, row.id).length} conflicts, ${index.audit(edit.entityType, row.id).length} audit rows`
}

/** Returns the values of a field, split into elements for list fields. */
function candidateValues(value: unknown, isList: boolean): unknown[] {
  if (!isList) return [value ?? null]
  return Array.isArray(value) ? value : []
}

function conflictValues(conflict: ConflictRow, field: string, isList: boolean): unknown[] {
  if (conflict.field_path === field) {
    // A conflict of a list field contains one element (item_key), of a value field the value.
    return [conflict.registry_value, conflict.fhir_value].flatMap((value) =>
      isList && Array.isArray(value) ? (value as unknown[]) : [value ?? null],
    )
  }
  if (conflict.field_path === DELETION_FIELD) {
    return [conflict.registry_value, conflict.fhir_value].flatMap((value) =>
      auditValues(value, field, isList),
    )
  }
  return []
}

/** Values of the field in an audit before/after: a whole record, or a revert's one part. */
function auditValues(entry: unknown, field: string, isList: boolean): unknown[] {
  if (entry === null || typeof entry !== 'object') return []
  const record = entry as Record<string, unknown>
  if (field in record) return candidateValues(record[field], isList)
  if (record.field === field && 'value' in record) return [record.value ?? null]
  return []
}

/**
 * Checks that no resource was created twice. Each registry patient's registry identifier must be
 * on exactly one Patient in HAPI (none once its delete reached HAPI), and that Patient must be the
 * row's FHIR resource. No two rows may share a FHIR id, and no Patient or Condition in HAPI's
 * history may be written again after HAPI deleted it.
 */
export function findDuplicates(state: FinalState): string[] {
  const index = new Index(state)
  const problems: string[] = []
  const system = state.identifierSystem

  const holders = new Map<string, string[]>()
  for (const [fhirId, resource] of state.fhirPatients) {
    const own = (resource.identifier ?? []).filter((identifier) => identifier.system === system)
    if (own.length > 1) {
      problems.push(`Patient/${fhirId} carries ${own.length} registry identifiers`)
    }
    for (const identifier of own) append(holders, identifier.value ?? '', fhirId)
  }

  for (const row of state.patients) {
    const own = patientFieldsOf(row).identifiers.filter(
      (identifier) => identifier.system === system,
    )
    if (own.length !== 1) {
      problems.push(`${describeRow('patient', row)} has ${own.length} registry identifiers`)
      continue
    }
    const carriers = holders.get(own[0]?.value ?? '') ?? []
    // A delete that waits for a steward leaves the Patient in HAPI or not, whichever side deleted.
    const waits =
      row.deleted_at === null
        ? index.hasDeletionConflict('patient', row.id)
        : index.deleteHeld('patient', row)
    const allowed = waits ? [0, 1] : row.deleted_at === null ? [1] : [0]
    if (!allowed.includes(carriers.length) || carriers.some((fhirId) => fhirId !== row.fhir_id)) {
      problems.push(
        `${describeRow('patient', row)}${row.deleted_at ? ' deleted' : ''}: its registry identifier is on ${carriers.length} HAPI Patients (${carriers.join(', ')})`,
      )
    }
  }

  for (const [entityType, rows] of [
    ['patient', state.patients],
    ['condition', state.conditions],
  ] as const) {
    const seen = new Map<string, string[]>()
    for (const row of rows) if (row.fhir_id !== null) append(seen, row.fhir_id, row.id)
    for (const [fhirId, ids] of seen) {
      if (ids.length > 1) problems.push(`${ids.length} ${entityType} rows have FHIR id ${fhirId}`)
    }
  }

  const versions = new Map<string, { versionId: number; method: string }[]>()
  for (const entry of state.history) {
    append(versions, `${entry.resourceType}/${entry.id}`, entry)
  }
  for (const [reference, entries] of versions) {
    const ordered = [...entries].sort((a, b) => a.versionId - b.versionId)
    const deleted = ordered.findIndex((entry) => entry.method === 'DELETE')
    if (deleted >= 0 && ordered.slice(deleted + 1).some((entry) => entry.method !== 'DELETE')) {
      problems.push(
        `${reference} was written again after HAPI deleted it: ${ordered.map((entry) => `v${entry.versionId} ${entry.method}`).join(', ')}`,
      )
    }
  }
  return problems
}

/**
 * Checks that no work was left undone. No sync job may be pending, other than a parked merge's
 * delayed retry or the next scheduled drift run. No row may be `failed`, or still `pending`
 * unless its delete waits for a steward. No `(deleted)` conflict may stay open after both sides
 * deleted the entity, no notification may stay unprocessed without being parked, and no job may
 * sit in a dead-letter queue. Dead letters come last, because one outage can leave many of them
 * and they would hide the rest.
 */
export function findStuckWork(state: FinalState, pending: readonly PendingJob[]): string[] {
  const index = new Index(state)
  const problems: string[] = []
  for (const job of pending) {
    problems.push(
      `${job.name} job ${job.singleton_key ?? job.id} is ${job.state} (retry ${job.retry_count}, start after ${job.start_after.toISOString()})`,
    )
  }

  const rows: [EntityType, Row][] = [
    ...state.patients.map((row): [EntityType, Row] => ['patient', row]),
    ...state.conditions.map((row): [EntityType, Row] => ['condition', row]),
  ]
  for (const [entityType, row] of rows) {
    const deleted = row.deleted_at !== null
    const inFhir = row.fhir_id !== null && index.fhirResource(entityType, row.fhir_id) !== undefined
    // A registry delete that waits for a steward keeps its row pending, and that is no stuck work.
    const waitsForSteward = deleted && inFhir && index.deleteHeld(entityType, row)
    if (deleted && !inFhir && index.hasDeletionConflict(entityType, row.id)) {
      problems.push(
        `${describeRow(entityType, row)} is deleted on both sides, but its (deleted) conflict is still open for a steward`,
      )
    } else if (row.sync_state === 'failed' || (row.sync_state === 'pending' && !waitsForSteward)) {
      problems.push(
        `${describeRow(entityType, row)}${deleted ? ' deleted' : ''} is ${row.sync_state}: ${row.sync_error ?? 'no error recorded'}`,
      )
    }
  }

  for (const notification of state.notifications) {
    if (notification.processed_at !== null || notification.parked_reason !== null) continue
    problems.push(
      `notification ${notification.id} (${notification.method} ${notification.resource_type ?? '?'}/${notification.resource_id ?? '?'} v${notification.version_id ?? '-'}) is unprocessed and not parked`,
    )
  }

  const working: readonly string[] = [QUEUES.fhirPush, QUEUES.fhirMerge, QUEUES.syncDrift]
  const deadQueues: readonly string[] = DEAD_LETTER_QUEUES
  for (const job of state.jobs) {
    if (!working.includes(job.name) && !deadQueues.includes(job.name)) {
      if (job.state === 'active' || job.state === 'retry') {
        problems.push(`${job.name} job ${job.id} is ${job.state}`)
      }
    }
  }
  for (const job of state.jobs) {
    if (!deadQueues.includes(job.name)) continue
    const error = (job.source_output as { message?: string } | null)?.message
    problems.push(
      `${job.name} holds ${job.singleton_key ?? job.id} after ${job.source_retry_count ?? '?'} retries: ${json(job.data)}, ${error ?? json(job.source_output)}`,
    )
  }
  return problems
}
