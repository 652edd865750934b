import type { Kysely } from 'kysely'
import type { AuditRepository, ChangeContext } from '../audit/audit.repository.ts'
import type { ConditionRepository } from '../conditions/condition.repository.ts'
import type { NeurologyValueSet } from '../fhir/neurology-value-set.ts'
import type { PatientRepository } from '../patients/patient.repository.ts'
import { sameValue } from '../platform/canonical-json.ts'
import type { Clock } from '../platform/clock.ts'
import type { Database } from '../platform/db.ts'
import { AppError, ConflictError, NotFoundError, ValidationError } from '../platform/errors.ts'
import { errorFields, type Logger } from '../platform/logger.ts'
import { UUID_ID, decodeCursor, toPage } from '../platform/paging.ts'
import { transactionWithJobs, type JobQueue } from '../platform/queue.ts'
import { fieldErrorsOf } from '../platform/validation.ts'
import {
  conditionConflictEntity,
  patientConflictEntity,
  readPart,
  writePart,
  type ConflictEntity,
  type EntitySnapshot,
} from './conflict-entities.ts'
import { resolveDeletion, type DeletionDeps } from './conflict-deletion.ts'
import {
  markPushPending,
  refreshSides,
  stewardAuditEntry,
  type ResolutionStep,
  type ResolveOutcome,
} from './conflict-resolution.ts'
import {
  DELETION_FIELD,
  type ConflictFilter,
  type ConflictRepository,
  type ConflictRow,
} from './conflict.repository.ts'
import type { BulkResult, Conflict, ConflictDetail, ResolveChoice } from './conflict.schemas.ts'

export interface ConflictServiceDeps {
  db: Kysely<Database>
  conflicts: ConflictRepository
  patients: PatientRepository
  conditions: ConditionRepository
  audit: AuditRepository
  queue: JobQueue
  clock: Clock
  valueSet: NeurologyValueSet
  /** System of the identifier the registry gives every patient. */
  registryIdentifierSystem: string
}

export interface ConflictListQuery {
  status: ConflictFilter['status']
  entityType?: ConflictFilter['entityType']
  entityId?: string
  field?: string
  createdFrom?: string
  createdTo?: string
  limit: number
  cursor?: string
}

/** Converts a row to its API representation. */
export function toConflict(row: ConflictRow): Conflict {
  return {
    id: row.id,
    entityType: row.entity_type,
    entityId: row.entity_id,
    field: row.field_path,
    itemKey: row.item_key,
    status: row.status,
    baseValue: row.base_value,
    registryValue: row.registry_value,
    fhirValue: row.fhir_value,
    registryVersion: row.registry_version,
    fhirVersionId: row.fhir_version_id,
    registryUpdatedAt: row.registry_updated_at.toISOString(),
    fhirUpdatedAt: row.fhir_updated_at?.toISOString() ?? null,
    resolution: row.resolution,
    resolvedBy: row.resolved_by,
    resolvedValue: row.resolved_value,
    resolutionReason: row.resolution_reason,
    resolvedAt: row.resolved_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }
}

function toConflictDetail(row: ConflictRow, entity: EntitySnapshot | undefined): ConflictDetail {
  return {
    ...toConflict(row),
    entity: entity
      ? { version: entity.version, deleted: entity.deletedAt !== null, syncState: entity.syncState }
      : null,
  }
}

function staleError(conflict: ConflictRow): ConflictError {
  return new ConflictError(
    'CONFLICT_STALE',
    `The ${conflict.entity_type} changed after conflict ${conflict.id} was recorded; ` +
      'the conflict now contains the current values, so review them and resolve it again',
    {
      registryValue: conflict.registry_value,
      fhirValue: conflict.fhir_value,
      registryVersion: conflict.registry_version,
      fhirVersionId: conflict.fhir_version_id,
    },
  )
}

function notOpenError(conflict: ConflictRow): ConflictError {
  return new ConflictError(
    'CONFLICT_NOT_OPEN',
    `Conflict ${conflict.id} is ${conflict.status}, so it can no longer be resolved or dismissed`,
    { conflictStatus: conflict.status },
  )
}

/**
 * The steward's conflict queue: lists conflicts and settles them. Each decision is one
 * transaction. It locks the entity row and then the conflict, in the order the merge locks them.
 * It then writes the entity, closes the conflict, records the audit row and queues the push
 * that brings HAPI to the same value.
 */
export class ConflictService {
  readonly #deps: ConflictServiceDeps
  readonly #patient: ConflictEntity
  readonly #condition: ConflictEntity

  constructor(deps: ConflictServiceDeps) {
    this.#deps = deps
    this.#patient = patientConflictEntity(deps.patients, deps.registryIdentifierSystem)
    this.#condition = conditionConflictEntity(deps.conditions, deps.valueSet)
  }

  /** Lists conflicts oldest first, by default the open ones, one page at a time. */
  async list(query: ConflictListQuery): Promise<{ items: Conflict[]; nextCursor: string | null }> {
    const createdFrom = query.createdFrom === undefined ? undefined : new Date(query.createdFrom)
    const createdTo = query.createdTo === undefined ? undefined : new Date(query.createdTo)
    if (createdFrom && createdTo && createdFrom > createdTo) {
      throw new ValidationError('The creation time range is empty', [
        { path: 'createdFrom', message: 'Must not be after createdTo' },
      ])
    }

    const filter: ConflictFilter = {
      status: query.status,
      entityType: query.entityType,
      entityId: query.entityId,
      fieldPath: query.field,
      createdFrom,
      createdTo,
    }
    const rows = await this.#deps.conflicts.list(
      this.#deps.db,
      filter,
      query.limit + 1,
      decodeCursor(query.cursor, UUID_ID),
    )
    return toPage(rows, query.limit, toConflict)
  }

  /** Reads a conflict together with the current version of its entity. */
  async get(id: string): Promise<ConflictDetail> {
    const { db, conflicts } = this.#deps
    const conflict = await conflicts.findById(db, id)
    if (!conflict) throw new NotFoundError('Conflict', id)
    const entity = await this.#entityOf(conflict).load(db, conflict.entity_id)
    return toConflictDetail(conflict, entity)
  }

  /**
   * Settles an open conflict with the registry's value, FHIR's value or a value the steward
   * supplies, and queues the push. Fails with 409 `CONFLICT_NOT_OPEN` when the conflict is
   * closed, and with 409 `CONFLICT_STALE` when the entity moved on since the conflict recorded
   * its values. The conflict then contains the fresh values, so a second attempt can succeed.
   */
  async resolve(
    id: string,
    choice: ResolveChoice,
    context: ChangeContext,
  ): Promise<ConflictDetail> {
    const outcome = await this.#resolveOne(id, choice, context)
    switch (outcome.kind) {
      case 'resolved':
        return toConflictDetail(outcome.conflict, outcome.entity)
      case 'stale':
        throw staleError(outcome.conflict)
      case 'not-open':
        throw notOpenError(outcome.conflict)
      case 'not-found':
        throw new NotFoundError('Conflict', id)
    }
  }

  /**
   * Resolves many conflicts of one field with the same side, each in its own transaction, and
   * reports the outcome of each. A conflict that fails does not stop the others.
   */
  async resolveMany(
    ids: readonly string[],
    choice: 'registry' | 'fhir',
    context: ChangeContext,
    logger: Logger,
  ): Promise<BulkResult[]> {
    const unique = [...new Set(ids)]
    const found = await this.#deps.conflicts.findByIds(this.#deps.db, unique)
    const fields = [...new Set(found.map((row) => `${row.entity_type}.${row.field_path}`))]
    if (fields.length > 1) {
      throw new ValidationError('The conflicts are about different fields', [
        {
          path: 'conflictIds',
          message: `Resolve one field at a time; these conflicts name ${fields.join(', ')}`,
        },
      ])
    }

    const results: BulkResult[] = []
    for (const id of unique) {
      try {
        results.push(bulkResultOf(id, await this.#resolveOne(id, { choice }, context)))
      } catch (error) {
        if (error instanceof AppError) {
          logger.warn('Conflict resolution rejected', { conflictId: id, code: error.code })
          results.push({ id, outcome: 'rejected', code: error.code, detail: error.message })
          continue
        }
        logger.error('Conflict resolution failed', { ...errorFields(error), conflictId: id })
        results.push({
          id,
          outcome: 'failed',
          code: 'INTERNAL_ERROR',
          detail: 'The server failed to resolve this conflict',
        })
      }
    }
    return results
  }

  /**
   * Closes an open conflict without changing the entity: the registry keeps its value and the
   * push, no longer held back, carries it to FHIR. A delete against an edit cannot be dismissed,
   * because the next push would only raise it again; it must be resolved.
   */
  async dismiss(id: string, reason: string, context: ChangeContext): Promise<ConflictDetail> {
    const { db, conflicts, audit, queue, clock } = this.#deps
    const found = await conflicts.findById(db, id)
    if (!found) throw new NotFoundError('Conflict', id)
    if (found.field_path === DELETION_FIELD) {
      throw new ConflictError(
        'CONFLICT_NOT_DISMISSIBLE',
        `Conflict ${id} is a delete against an edit, so resolve it with registry or fhir`,
      )
    }
    const entity = this.#entityOf(found)

    return transactionWithJobs(db, queue, async (trx, jobs) => {
      const row = await entity.load(trx, found.entity_id, { forUpdate: true })
      const conflict = await conflicts.findById(trx, id, { forUpdate: true })
      if (!conflict) throw new NotFoundError('Conflict', id)
      if (conflict.status !== 'open') throw notOpenError(conflict)
      if (!row) throw new NotFoundError(entity.label, conflict.entity_id)

      const now = clock.now()
      const closed = await conflicts.close(
        trx,
        id,
        {
          status: 'dismissed',
          resolution: null,
          resolvedBy: context.actor,
          resolvedValue: null,
          reason,
        },
        now,
      )
      const fields = row.deletedAt ? null : row.fields
      await audit.record(
        trx,
        stewardAuditEntry(
          { context, conflict, now },
          {
            action: 'dismiss',
            entityType: entity.entityType,
            entityId: row.id,
            before: fields,
            after: fields,
          },
        ),
      )
      await markPushPending(conflicts, trx, entity, row.id)
      await entity.enqueuePush(jobs, row.id)
      return toConflictDetail(closed, await entity.load(trx, row.id))
    })
  }

  async #resolveOne(
    id: string,
    choice: ResolveChoice,
    context: ChangeContext,
  ): Promise<ResolveOutcome> {
    const { db, conflicts, queue, clock } = this.#deps
    const found = await conflicts.findById(db, id)
    if (!found) return { kind: 'not-found' }
    const entity = this.#entityOf(found)
    if (choice.choice === 'value') checkSuppliedValue(entity, found, choice.value)

    return transactionWithJobs(db, queue, async (trx, jobs) => {
      const row = await entity.load(trx, found.entity_id, { forUpdate: true })
      const conflict = await conflicts.findById(trx, id, { forUpdate: true })
      if (!conflict) return { kind: 'not-found' }
      if (conflict.status !== 'open') return { kind: 'not-open', conflict }
      if (!row) throw new NotFoundError(entity.label, conflict.entity_id)

      const step: ResolutionStep = { trx, jobs, entity, row, conflict, context, now: clock.now() }
      if (conflict.field_path === DELETION_FIELD) {
        // checkSuppliedValue rejected a supplied value for a delete conflict.
        const side = choice.choice === 'fhir' ? 'fhir' : 'registry'
        return resolveDeletion(step, side, this.#deletionDeps())
      }
      return this.#resolveField(step, choice)
    })
  }

  /** Sets one field, or one element of it, to the chosen value. */
  async #resolveField(step: ResolutionStep, choice: ResolveChoice): Promise<ResolveOutcome> {
    const { trx, jobs, entity, row, conflict, context, now } = step
    const { conflicts, audit } = this.#deps
    const field = conflict.field_path
    const itemKey = conflict.item_key
    const shape = entity.shapes[field]
    if (!shape) throw new Error(`Conflict ${conflict.id} names unknown merge field ${field}`)
    if (row.deletedAt) {
      throw new ConflictError(
        'ENTITY_DELETED',
        `${entity.label} ${row.id} was deleted after conflict ${conflict.id} was recorded; dismiss the conflict`,
      )
    }

    // Pushes write FHIR's value of the part while the conflict is open, so the last agreed FHIR
    // version (sync_base) carries it. A newer FHIR value would have refreshed the conflict.
    const view = entity.mergeView(row.fields)
    const registryNow = readPart(shape, view[field], itemKey)
    const fhirNow = row.syncBase
      ? readPart(shape, entity.mergeView(row.syncBase)[field], itemKey)
      : null
    if (
      !sameValue(registryNow, conflict.registry_value) ||
      !sameValue(fhirNow, conflict.fhir_value) ||
      sameValue(registryNow, fhirNow)
    ) {
      return refreshSides(conflicts, step, { registryValue: registryNow, fhirValue: fhirNow })
    }

    const chosen = choiceValue(conflict, choice)
    const newView = { ...view, [field]: writePart(shape, view[field], itemKey, chosen) }
    if (choice.choice === 'value') {
      checkResultingFields(entity, conflict, {
        supplied: chosen,
        landed: readPart(shape, newView[field], itemKey),
        fields: entity.fieldsOfMergeView(newView),
      })
    }

    const updated = await entity.writeFields(trx, row.id, entity.fieldsOfMergeView(newView), {
      updatedBy: context.actor,
      updatedAt: now,
      changedFields: [entity.columnFieldOf(field)],
    })
    const closed = await conflicts.close(
      trx,
      conflict.id,
      {
        status: 'resolved',
        resolution: choice.choice,
        resolvedBy: context.actor,
        resolvedValue: chosen,
        reason: null,
      },
      now,
    )
    await audit.record(
      trx,
      stewardAuditEntry(step, {
        action: 'resolve',
        entityType: entity.entityType,
        entityId: row.id,
        before: row.fields,
        after: updated.fields,
      }),
    )
    await markPushPending(conflicts, trx, entity, row.id)
    await entity.enqueuePush(jobs, row.id)
    return {
      kind: 'resolved',
      conflict: closed,
      entity: (await entity.load(trx, row.id)) ?? updated,
    }
  }

  #deletionDeps(): DeletionDeps {
    const { conflicts, conditions, audit } = this.#deps
    return { conflicts, conditions, audit, patient: this.#patient, condition: this.#condition }
  }

  #entityOf(conflict: ConflictRow): ConflictEntity {
    return conflict.entity_type === 'patient' ? this.#patient : this.#condition
  }
}

/** Returns the value the part takes: a side's recorded value (null when absent) or the supplied one. */
function choiceValue(conflict: ConflictRow, choice: ResolveChoice): unknown {
  switch (choice.choice) {
    case 'registry':
      return conflict.registry_value
    case 'fhir':
      return conflict.fhir_value
    case 'value':
      return choice.value ?? null
  }
}

/** Checks a supplied value against the part's schema, before any row is locked. */
function checkSuppliedValue(entity: ConflictEntity, conflict: ConflictRow, value: unknown): void {
  if (conflict.field_path === DELETION_FIELD) {
    throw new ValidationError('A delete against an edit is resolved by choosing a side', [
      { path: 'choice', message: 'Use registry or fhir for this conflict' },
    ])
  }
  const schema = entity.partSchema(conflict.field_path, conflict.item_key)
  if (!schema) {
    throw new ValidationError(`${conflict.field_path} takes no supplied value`, [
      { path: 'choice', message: 'Use registry or fhir for this conflict' },
    ])
  }
  const parsed = schema.safeParse(value ?? null)
  if (!parsed.success) {
    throw new ValidationError(
      'The supplied value is invalid',
      fieldErrorsOf(parsed.error, ['value']),
    )
  }
}

/**
 * Checks the entity's fields with a supplied value in place. An element must land under the
 * conflict's item key, so its natural key (such as `system|value`) must match, and the whole
 * fields must pass the entity's validation, as an API write's would.
 */
function checkResultingFields(
  entity: ConflictEntity,
  conflict: ConflictRow,
  result: { supplied: unknown; landed: unknown; fields: Record<string, unknown> },
): void {
  if (!sameValue(result.landed, result.supplied)) {
    throw new ValidationError("The supplied element's key differs from the conflict's", [
      { path: 'value', message: `Must have the key ${conflict.item_key ?? ''}` },
    ])
  }
  const errors = entity.validateFields(result.fields)
  if (errors.length > 0) {
    throw new ValidationError(`The ${entity.entityType} would be invalid with this value`, errors)
  }
}

function bulkResultOf(id: string, outcome: ResolveOutcome): BulkResult {
  switch (outcome.kind) {
    case 'resolved':
      return { id, outcome: 'resolved' }
    case 'stale':
      return {
        id,
        outcome: 'stale',
        registryValue: outcome.conflict.registry_value,
        fhirValue: outcome.conflict.fhir_value,
      }
    case 'not-open':
      return { id, outcome: 'not-open', status: outcome.conflict.status }
    case 'not-found':
      return { id, outcome: 'not-found' }
  }
}
