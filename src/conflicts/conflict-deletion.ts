import type { AuditRepository } from '../audit/audit.repository.ts'
import { conditionFieldsOf, type ConditionRepository } from '../conditions/condition.repository.ts'
import { sameValue } from '../platform/canonical-json.ts'
import { ConflictError } from '../platform/errors.ts'
import {
  clearDeletion,
  setFhirVersion,
  setSyncState,
  softDeleteRow,
} from '../platform/sync-columns.ts'
import type { ConflictEntity, MappedFields } from './conflict-entities.ts'
import {
  markPushPending,
  refreshSides,
  stewardAuditEntry,
  type ResolutionStep,
  type ResolveOutcome,
} from './conflict-resolution.ts'
import type { ConflictRepository } from './conflict.repository.ts'

export interface DeletionDeps {
  conflicts: ConflictRepository
  conditions: ConditionRepository
  audit: AuditRepository
  patient: ConflictEntity
  condition: ConflictEntity
}

/**
 * Resolves a delete on one side against an edit on the other. Which side deleted shows in the
 * conflict: the registry's value is null when the registry deleted the row (and FHIR edited the
 * resource), FHIR's value is null when FHIR deleted the resource (and the registry edited the
 * row). The registry side is checked against the row; FHIR's side needs no check, because the
 * merge refreshes the open conflict with every newer FHIR version.
 */
export async function resolveDeletion(
  step: ResolutionStep,
  side: 'registry' | 'fhir',
  deps: DeletionDeps,
): Promise<ResolveOutcome> {
  const { row, conflict } = step
  const registryNow = row.deletedAt ? null : row.fields
  if (
    !sameValue(registryNow, conflict.registry_value) ||
    sameValue(registryNow, conflict.fhir_value)
  ) {
    return refreshSides(deps.conflicts, step, {
      registryValue: registryNow,
      fhirValue: conflict.fhir_value,
      fhirVersionId: conflict.fhir_version_id,
      fhirUpdatedAt: conflict.fhir_updated_at,
    })
  }

  if (conflict.registry_value === null) {
    return side === 'registry' ? keepRegistryDelete(step, deps) : restoreFhirEdit(step, deps)
  }
  return side === 'registry' ? recreateInFhir(step, deps) : acceptFhirDelete(step, deps)
}

/**
 * Keeps the row that FHIR deleted. Without a FHIR version the push writes without `If-Match`,
 * and HAPI stores an update of a deleted id as the resource's next version.
 */
async function recreateInFhir(step: ResolutionStep, deps: DeletionDeps): Promise<ResolveOutcome> {
  const { trx, entity, row, context, now } = step
  await entity.writeFields(trx, row.id, row.fields, { updatedBy: context.actor, updatedAt: now })
  await setFhirVersion(trx, entity.table, row.id, { fhirVersionId: null })
  await deps.audit.record(
    trx,
    stewardAuditEntry(step, {
      action: 'resolve',
      entityType: entity.entityType,
      entityId: row.id,
      before: row.fields,
      after: row.fields,
    }),
  )
  return finish(step, deps, { resolution: 'registry', resolvedValue: row.fields, push: true })
}

/**
 * Deletes the row as FHIR did, and a patient's live conditions with it. They are marked synced
 * without a push: FHIR has deleted the resource, and HAPI deletes a patient only when no
 * condition refers to it, so its conditions are gone from FHIR too (or were never written).
 */
async function acceptFhirDelete(step: ResolutionStep, deps: DeletionDeps): Promise<ResolveOutcome> {
  const { trx, entity, row, context, now } = step
  const change = { updatedBy: context.actor, updatedAt: now }
  if (entity.entityType === 'patient') {
    for (const condition of await deps.conditions.listLiveByPatient(trx, row.id)) {
      await softDeleteRow(trx, 'conditions', condition.id, change)
      await setSyncState(trx, 'conditions', condition.id, 'synced')
      await deps.audit.record(
        trx,
        stewardAuditEntry(step, {
          action: 'delete',
          entityType: 'condition',
          entityId: condition.id,
          before: conditionFieldsOf(condition),
          after: null,
        }),
      )
    }
  }

  await softDeleteRow(trx, entity.table, row.id, change)
  await setSyncState(trx, entity.table, row.id, 'synced')
  await deps.audit.record(
    trx,
    stewardAuditEntry(step, {
      action: 'resolve',
      entityType: entity.entityType,
      entityId: row.id,
      before: row.fields,
      after: null,
    }),
  )
  return finish(step, deps, { resolution: 'fhir', resolvedValue: null, push: false })
}

/**
 * Keeps the registry's delete. The row records the FHIR version the steward saw, so the push
 * deletes that version and merges a newer one first.
 */
async function keepRegistryDelete(
  step: ResolutionStep,
  deps: DeletionDeps,
): Promise<ResolveOutcome> {
  const { trx, entity, row, conflict, context, now } = step
  await entity.writeFields(trx, row.id, row.fields, { updatedBy: context.actor, updatedAt: now })
  await setFhirVersion(trx, entity.table, row.id, { fhirVersionId: conflict.fhir_version_id })
  await deps.audit.record(
    trx,
    stewardAuditEntry(step, {
      action: 'resolve',
      entityType: entity.entityType,
      entityId: row.id,
      before: null,
      after: null,
    }),
  )
  return finish(step, deps, { resolution: 'registry', resolvedValue: null, push: true })
}

/**
 * Undoes the registry's delete and takes FHIR's fields, with FHIR's version as the new merge
 * base. A patient gets back the conditions that its delete deleted (those with the same
 * deletion time); a condition comes back only under a live patient.
 */
async function restoreFhirEdit(step: ResolutionStep, deps: DeletionDeps): Promise<ResolveOutcome> {
  const { trx, jobs, entity, row, conflict, context, now } = step
  const change = { updatedBy: context.actor, updatedAt: now }
  if (row.patientId !== null) {
    const patient = await deps.patient.load(trx, row.patientId)
    if (!patient || patient.deletedAt) {
      throw new ConflictError(
        'PATIENT_DELETED',
        `Condition ${row.id} belongs to patient ${row.patientId}, which is deleted; resolve the patient's delete conflict first`,
      )
    }
  }

  const fields = conflict.fhir_value as MappedFields
  await clearDeletion(trx, entity.table, row.id)
  await entity.writeFields(trx, row.id, fields, change)
  await setFhirVersion(trx, entity.table, row.id, {
    fhirVersionId: conflict.fhir_version_id,
    fhirLastUpdated: conflict.fhir_updated_at,
    base: fields,
  })
  await deps.audit.record(
    trx,
    stewardAuditEntry(step, {
      action: 'restore',
      entityType: entity.entityType,
      entityId: row.id,
      before: null,
      after: fields,
    }),
  )

  if (entity.entityType === 'patient' && row.deletedAt) {
    const ids = await deps.conflicts.lockConditionsDeletedWith(trx, row.id, row.deletedAt)
    for (const id of ids) {
      const condition = await deps.condition.load(trx, id)
      if (!condition) continue
      await clearDeletion(trx, 'conditions', id)
      await deps.condition.writeFields(trx, id, condition.fields, change)
      await deps.audit.record(
        trx,
        stewardAuditEntry(step, {
          action: 'restore',
          entityType: 'condition',
          entityId: id,
          before: null,
          after: condition.fields,
        }),
      )
      await markPushPending(deps.conflicts, trx, deps.condition, id)
      await deps.condition.enqueuePush(jobs, id)
    }
  }
  return finish(step, deps, { resolution: 'fhir', resolvedValue: fields, push: true })
}

/** Closes the conflict and, when the row still has to reach FHIR, queues its push. */
async function finish(
  step: ResolutionStep,
  deps: DeletionDeps,
  decision: { resolution: 'registry' | 'fhir'; resolvedValue: unknown; push: boolean },
): Promise<ResolveOutcome> {
  const { trx, jobs, entity, row, conflict, context, now } = step
  const closed = await deps.conflicts.close(
    trx,
    conflict.id,
    {
      status: 'resolved',
      resolution: decision.resolution,
      resolvedBy: context.actor,
      resolvedValue: decision.resolvedValue,
      reason: null,
    },
    now,
  )
  if (decision.push) {
    await markPushPending(deps.conflicts, trx, entity, row.id)
    await entity.enqueuePush(jobs, row.id)
  }
  if (decision.push && entity === deps.patient) {
    // Conditions whose push waited while their patient's deletion was open go to FHIR after it.
    for (const condition of await deps.conditions.listLiveByPatient(trx, row.id)) {
      if (condition.sync_state === 'synced') continue
      await setSyncState(trx, 'conditions', condition.id, 'pending')
      await deps.condition.enqueuePush(jobs, condition.id)
    }
  }
  const current = await entity.load(trx, row.id)
  if (!current)
    throw new Error(`${entity.label} ${row.id} vanished while its conflict was resolved`)
  return { kind: 'resolved', conflict: closed, entity: current }
}
