import type { Condition as FhirCondition, Patient as FhirPatient } from '@medplum/fhirtypes'
import { sql, type Kysely } from 'kysely'
import type { ConditionRepository, ConditionRow } from '../conditions/condition.repository.ts'
import type { ConditionFields } from '../conditions/condition.schemas.ts'
import { conditionResourceFromFields } from '../fhir/condition-mapping.ts'
import { FhirRequestError, versionIdOf, type FhirClient } from '../fhir/fhir-client.ts'
import { patientResourceFromFields } from '../fhir/patient-mapping.ts'
import type { PatientRepository, PatientRow } from '../patients/patient.repository.ts'
import type { PatientFields } from '../patients/patient.schemas.ts'
import type { Clock } from '../platform/clock.ts'
import { toJson, type Database } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import type { PushJobData } from '../platform/queue.ts'
import { recordSyncPoint, setSyncState, type SyncedTable } from '../platform/sync-columns.ts'
import type { InboundMerge } from './inbound-merge.ts'
import {
  BOTH_DELETED_REASON,
  DELETION_FIELD,
  type ConflictRepository,
  type ConflictRow,
} from '../conflicts/conflict.repository.ts'
import { withHeldBackParts } from '../merge/field-merge.ts'
import { sameValue } from '../platform/canonical-json.ts'
import { pushesToFhir, type SyncModes } from '../platform/sync-modes.ts'

const TABLES: Record<'patient' | 'condition', SyncedTable> = {
  patient: 'patients',
  condition: 'conditions',
}

/** How often one push re-reads and retries after HAPI reports a newer version. */
const MAX_VERSION_CONFLICT_ROUNDS = 5

/** A row written by a Bundle, with the version FHIR stored and its open conflicts. */
export interface RecordedWrite {
  entityType: 'patient' | 'condition'
  row: PatientRow | ConditionRow
  stored: FhirPatient | FhirCondition
  open: readonly ConflictRow[]
}

export type PushOutcome = 'pushed' | 'unchanged' | 'deleted' | 'skipped' | 'merged-first' | 'held'

export interface OutboundPushDeps {
  db: Kysely<Database>
  patients: PatientRepository
  conditions: ConditionRepository
  conflicts: ConflictRepository
  fhir: FhirClient
  merge: InboundMerge
  clock: Clock
  logger: Logger
  syncModes: SyncModes
}

/**
 * Raised when the push cannot go on without someone looking: HAPI has an older version than
 * the registry recorded, as after a restore of HAPI from a backup.
 */
export class PushBlockedError extends Error {
  override name = 'PushBlockedError'
}

/** Raised when HAPI kept reporting newer versions than the one the push was based on. */
export class PushContendedError extends Error {
  override name = 'PushContendedError'
}

/**
 * Writes registry rows to HAPI. Each write names the version the registry last saw (If-Match);
 * when HAPI has a newer one, the push merges that version first and tries again, so a FHIR
 * edit is never overwritten unseen.
 */
export class OutboundPush {
  readonly #deps: OutboundPushDeps

  constructor(deps: OutboundPushDeps) {
    this.#deps = deps
  }

  async push(job: PushJobData, requestId: string): Promise<PushOutcome> {
    if (!pushesToFhir(this.#modeOf(job.entityType))) {
      // FHIR is the only writer of this type. A row that came from FHIR is as synced as the merge
      // left it, and the push queued at enrolment for the registry identifier has nothing to do.
      // A row that never reached FHIR stays as it is, so it still shows as pending or failed.
      await setSyncStateOfRowsInFhir(this.#deps.db, TABLES[job.entityType], job.entityId)
      return 'skipped'
    }
    for (let round = 1; round <= MAX_VERSION_CONFLICT_ROUNDS; round++) {
      try {
        return job.entityType === 'patient'
          ? await this.#pushPatient(job.entityId, requestId)
          : await this.#pushCondition(job.entityId, requestId)
      } catch (error) {
        if (!(error instanceof FhirRequestError && error.isVersionConflict)) throw error
        this.#deps.logger.info('FHIR version moved on during push; merging first', {
          ...job,
          round,
        })
      }
    }
    throw new PushContendedError(
      `${job.entityType} ${job.entityId} kept changing in FHIR during the push`,
    )
  }

  #modeOf(entityType: 'patient' | 'condition') {
    return this.#deps.syncModes[entityType === 'patient' ? 'Patient' : 'Condition']
  }

  async #pushPatient(id: string, requestId: string): Promise<PushOutcome> {
    const { patients, fhir, merge } = this.#deps
    const row = await patients.findById(this.#deps.db, id, { includeDeleted: true })
    if (!row?.fhir_id) return 'skipped'
    if (row.deleted_at) {
      if (await this.#deleteHeldBack('patient', row.id)) {
        if ((await fhir.read<FhirPatient>('Patient', row.fhir_id)) === null) {
          await this.#settleBothDeleted('patient', row.id)
          return 'deleted'
        }
        await setSyncState(this.#deps.db, 'patients', row.id, 'conflict')
        return 'held'
      }
      const current = await this.#readCurrent<FhirPatient>('Patient', row, requestId)
      if (current === 'moved') return 'merged-first'
      return this.#deletePatient(row, current !== 'gone', requestId)
    }

    const current = await this.#readCurrent<FhirPatient>('Patient', row, requestId)
    if (current === 'moved') return 'merged-first'
    if (current === 'gone') {
      await merge.applyDeletion('Patient', row.fhir_id, requestId)
      return 'merged-first'
    }

    const write = await this.resourceToWrite('patient', row, current)
    if (write === null) return 'unchanged'
    const stored = await fhir.update(write.resource, {
      ifMatchVersion: current ? versionIdOf(current) : undefined,
      requestId,
    })
    await this.recordWrite('patient', row, stored, write.open)
    return 'pushed'
  }

  async #pushCondition(id: string, requestId: string, subjectMerged = false): Promise<PushOutcome> {
    const { conditions, patients, fhir, merge } = this.#deps
    const row = await conditions.findById(this.#deps.db, id, { includeDeleted: true })
    if (!row?.fhir_id) return 'skipped'
    if (row.deleted_at) {
      if (await this.#deleteHeldBack('condition', row.id)) {
        if ((await fhir.read<FhirCondition>('Condition', row.fhir_id)) === null) {
          await this.#settleBothDeleted('condition', row.id)
          return 'deleted'
        }
        await setSyncState(this.#deps.db, 'conditions', row.id, 'conflict')
        return 'held'
      }
      const current = await this.#readCurrent<FhirCondition>('Condition', row, requestId)
      if (current === 'moved') return 'merged-first'
      if (current !== 'gone' && current !== null) {
        await fhir.delete('Condition', row.fhir_id, {
          ifMatchVersion: versionIdOf(current),
          requestId,
        })
      }
      await setSyncState(this.#deps.db, 'conditions', row.id, 'synced')
      await this.#dismissFieldConflicts('condition', row.id)
      // A patient delete that waited for this condition's deletion conflict can go ahead now.
      const patient = await patients.findById(this.#deps.db, row.patient_id, {
        includeDeleted: true,
      })
      if (patient?.deleted_at && patient.sync_state !== 'synced') {
        await this.#pushPatient(patient.id, requestId)
      }
      return 'deleted'
    }

    const patient = await patients.findById(this.#deps.db, row.patient_id, { includeDeleted: true })
    if (!patient?.fhir_id) throw new Error(`Condition ${id} has no patient with a FHIR id`)
    if (await this.#deleteHeldBack('patient', patient.id)) {
      // FHIR deleted the patient while the registry changed it, so HAPI would reject a Condition
      // of it. The push waits for the steward, whose decision on the patient pushes it again.
      await setSyncState(this.#deps.db, 'conditions', row.id, 'conflict')
      return 'held'
    }
    if (patient.fhir_version_id === null) {
      // HAPI enforces referential integrity, so the subject must exist before its condition.
      await this.#pushPatient(patient.id, requestId)
    }

    const current = await this.#readCurrent<FhirCondition>('Condition', row, requestId)
    if (current === 'moved') return 'merged-first'
    if (current === 'gone') {
      await merge.applyDeletion('Condition', row.fhir_id, requestId)
      return 'merged-first'
    }

    const write = await this.resourceToWrite('condition', row, current, patient.fhir_id)
    if (write === null) return 'unchanged'
    let stored: FhirCondition
    try {
      stored = await fhir.update(write.resource as FhirCondition, {
        ifMatchVersion: current ? versionIdOf(current) : undefined,
        requestId,
      })
    } catch (error) {
      if (subjectMerged || !(await this.#subjectDeletedInFhir(error, patient))) throw error
      // HAPI rejects a Condition whose Patient it deleted (HAPI-1096). Merging that delete first
      // opens the patient's deletion conflict, and this push then waits for the steward.
      await merge.applyDeletion('Patient', patient.fhir_id, requestId)
      return this.#pushCondition(id, requestId, true)
    }
    await this.recordWrite('condition', row, stored, write.open)
    return 'pushed'
  }

  /** True when a condition write failed because FHIR deleted its patient meanwhile. */
  async #subjectDeletedInFhir(error: unknown, patient: PatientRow): Promise<boolean> {
    if (!(error instanceof FhirRequestError) || error.retryable || error.isVersionConflict) {
      return false
    }
    if (patient.fhir_id === null || patient.deleted_at !== null) return false
    return (await this.#deps.fhir.read<FhirPatient>('Patient', patient.fhir_id)) === null
  }

  /**
   * Builds the resource to write for a live row whose FHIR resource is `current` (null before
   * the first write), keeping the elements the registry does not map. Each part with an open
   * conflict keeps FHIR's value. Returns null when FHIR already contains the row's values, after
   * recording that as the new sync point. `openOfRow` is the row's open conflicts when the caller
   * read them already, as a batch does for all its rows in one query: an empty list spares the
   * row's own query.
   */
  async resourceToWrite(
    entityType: 'patient' | 'condition',
    row: PatientRow | ConditionRow,
    current: FhirPatient | FhirCondition | null,
    subjectFhirId?: string,
    openOfRow?: readonly ConflictRow[],
  ): Promise<{ resource: FhirPatient | FhirCondition; open: ConflictRow[] } | null> {
    const entity = this.#deps.merge.entity(entityType)
    const rowFields = entity.fieldsOfRow(row)
    const fhirFields = current && entity.fieldsOfResource(current)
    const open =
      openOfRow?.length === 0
        ? []
        : await this.#openConflicts(entityType, row.id, rowFields, fhirFields)
    const fields = this.#withHeldBack(entityType, rowFields, fhirFields, open)
    if (current && sameValue(fhirFields, fields)) {
      await this.#record(TABLES[entityType], row, current, fields, open)
      return null
    }

    const fhirId = row.fhir_id ?? ''
    const resource =
      entityType === 'patient'
        ? patientResourceFromFields(
            fhirId,
            fields as PatientFields,
            (current as FhirPatient | null) ?? undefined,
          )
        : conditionResourceFromFields(
            fhirId,
            subjectFhirId ?? '',
            fields as ConditionFields,
            (current as FhirCondition | null) ?? undefined,
          )
    return { resource, open }
  }

  /** Records the version FHIR stored for a write of the row as the new sync point. */
  async recordWrite(
    entityType: 'patient' | 'condition',
    row: PatientRow | ConditionRow,
    stored: FhirPatient | FhirCondition,
    open: readonly ConflictRow[],
  ): Promise<void> {
    const entity = this.#deps.merge.entity(entityType)
    await this.#record(TABLES[entityType], row, stored, entity.fieldsOfResource(stored), open)
  }

  /**
   * Records the versions FHIR stored for the writes of one Bundle as their new sync points, with
   * one UPDATE per table in one transaction. The rules are those of `recordSyncPoint`: a row is
   * `synced` only at the version that was written, and `fhir_version_id` never moves backwards.
   */
  async recordWrites(writes: readonly RecordedWrite[]): Promise<void> {
    await this.#deps.db.transaction().execute(async (trx) => {
      for (const entityType of ['patient', 'condition'] as const) {
        const ofType = writes.filter((write) => write.entityType === entityType)
        if (ofType.length === 0) continue
        const entity = this.#deps.merge.entity(entityType)
        const values = ofType.map(
          ({ row, stored }) =>
            sql`(${row.id}::uuid, ${versionIdOf(stored)}::integer,
              ${stored.meta?.lastUpdated ?? null}::timestamptz,
              ${toJson(entity.fieldsOfResource(stored))}::jsonb, ${row.version}::integer)`,
        )
        await sql`
          update ${sql.table(TABLES[entityType])} as t set
            fhir_version_id = v.fhir_version_id,
            fhir_last_updated = v.fhir_last_updated,
            sync_base = v.sync_base,
            sync_state = case when t.version = v.row_version then 'synced' else 'pending' end,
            sync_error = null,
            sync_attempts = 0
          from (values ${sql.join(values)})
            as v (id, fhir_version_id, fhir_last_updated, sync_base, row_version)
          where t.id = v.id
            and (t.fhir_version_id is null or t.fhir_version_id <= v.fhir_version_id)`.execute(trx)
        for (const { row, open } of ofType) {
          if (open.length > 0) await setSyncState(trx, TABLES[entityType], row.id, 'conflict')
        }
      }
    })
  }

  /**
   * Reads the resource the row was last synced with. Returns null for a row never written to
   * FHIR, 'moved' after merging a newer FHIR version (the merge queues a fresh push when one is
   * still needed), and 'gone' when FHIR deleted it.
   */
  async #readCurrent<R extends FhirPatient | FhirCondition>(
    type: R['resourceType'],
    row: PatientRow | ConditionRow,
    requestId: string,
  ): Promise<R | null | 'moved' | 'gone'> {
    if (row.fhir_version_id === null || row.fhir_id === null) return null
    // With the registry-to-FHIR direction the registry's row is the truth: a FHIR edit is written
    // over and a FHIR delete is undone by writing the resource again.
    const overwrite =
      this.#modeOf(type === 'Patient' ? 'patient' : 'condition').direction === 'to-fhir'
    const current = await this.#deps.fhir.read<R>(type, row.fhir_id)
    if (!current) return overwrite ? null : 'gone'
    const currentVersion = versionIdOf(current)
    if (currentVersion === row.fhir_version_id) return current
    if (overwrite && currentVersion > row.fhir_version_id) return current
    if (currentVersion < row.fhir_version_id) {
      throw new PushBlockedError(
        `${type}/${row.fhir_id} is at version ${currentVersion} in FHIR, below the recorded ${row.fhir_version_id}`,
      )
    }

    const outcome =
      current.resourceType === 'Patient'
        ? await this.#deps.merge.applyPatient(current, requestId)
        : await this.#deps.merge.applyCondition(current, requestId)
    this.#deps.logger.info('Merged a newer FHIR version before pushing', {
      fhirId: `${type}/${row.fhir_id}`,
      outcome,
    })
    return 'moved'
  }

  /**
   * Deletes a patient and its deleted conditions in FHIR, conditions first because HAPI rejects
   * the delete of a Patient that Conditions still reference. Each delete names the version the
   * registry read, so HAPI returns 409 for one that FHIR changed since, and the push merges it
   * first. HAPI 8.8 checks that version only on a plain versioned DELETE: it ignores `ifMatch` and
   * versioned URLs in transaction entries, so the deletes go one by one. A push that stops
   * halfway is tried again, and the conditions already deleted are then left out.
   */
  async #deletePatient(
    row: PatientRow,
    existsInFhir: boolean,
    requestId: string,
  ): Promise<PushOutcome> {
    const { conditions, fhir } = this.#deps
    if (existsInFhir && row.fhir_version_id !== null && row.fhir_id !== null) {
      const deletedConditions = await this.#conditionsToDelete(
        await conditions.listDeletedInFhirByPatient(this.#deps.db, row.id),
        requestId,
      )
      if (deletedConditions === 'held') {
        await setSyncState(this.#deps.db, 'patients', row.id, 'conflict')
        return 'held'
      }
      for (const { condition, versionId } of deletedConditions) {
        await fhir.delete('Condition', condition.fhir_id ?? '', {
          ifMatchVersion: versionId,
          requestId,
        })
        await setSyncState(this.#deps.db, 'conditions', condition.id, 'synced')
        await this.#dismissFieldConflicts('condition', condition.id)
      }
      try {
        await fhir.delete('Patient', row.fhir_id, {
          ifMatchVersion: row.fhir_version_id,
          requestId,
        })
      } catch (error) {
        // HAPI also returns 409 when resources still reference the patient: Conditions a
        // hospital added that the registry has not merged yet. Merging them first opens their
        // deletion conflicts, and the push's next round then waits for the steward.
        if (error instanceof FhirRequestError && error.isVersionConflict) {
          await this.#mergeConditionsOf(row.fhir_id, requestId)
        }
        throw error
      }
    }
    await setSyncState(this.#deps.db, 'patients', row.id, 'synced')
    await this.#dismissFieldConflicts('patient', row.id)
    return 'deleted'
  }

  /** Merges every Condition FHIR holds for the patient, so none is deleted unseen. */
  async #mergeConditionsOf(patientFhirId: string, requestId: string): Promise<void> {
    const conditions = await this.#deps.fhir.searchAll<FhirCondition>('Condition', {
      subject: `Patient/${patientFhirId}`,
      _count: '200',
    })
    for (const condition of conditions) await this.#deps.merge.applyCondition(condition, requestId)
  }

  /**
   * Checks the patient's deleted conditions against FHIR before they are deleted there, and
   * returns each with the FHIR version to delete. A condition FHIR changed since the registry
   * last saw it is merged first: an edit of mapped fields opens a deletion conflict, and the
   * whole delete waits for the steward ('held'), so a hospital's edit is never deleted unseen.
   * Conditions already gone from FHIR are marked synced and left out.
   */
  async #conditionsToDelete(
    deleted: readonly ConditionRow[],
    requestId: string,
  ): Promise<{ condition: ConditionRow; versionId: number }[] | 'held'> {
    const { fhir, merge } = this.#deps
    const toDelete: { condition: ConditionRow; versionId: number }[] = []
    let waitsForSteward = false
    for (const condition of deleted) {
      if (condition.fhir_id === null) continue
      const current = await fhir.read<FhirCondition>('Condition', condition.fhir_id)
      if (!current) {
        await this.#settleBothDeleted('condition', condition.id)
        continue
      }
      const versionId = versionIdOf(current)
      if (versionId > (condition.fhir_version_id ?? 0)) {
        await merge.applyCondition(current, requestId)
      }
      if (await this.#deleteHeldBack('condition', condition.id)) waitsForSteward = true
      toDelete.push({ condition, versionId })
    }
    return waitsForSteward ? 'held' : toDelete
  }

  /**
   * Marks a row deleted on both sides as synced and closes its open conflicts, the `(deleted)`
   * one included: with both sides deleted there is nothing left for a steward to decide.
   */
  async #settleBothDeleted(entityType: 'patient' | 'condition', id: string): Promise<void> {
    await this.#deps.conflicts.dismissOpenByEntity(
      this.#deps.db,
      { entityType, entityId: id },
      { resolvedBy: 'fhir-push', reason: BOTH_DELETED_REASON, fieldsOnly: false },
      this.#deps.clock.now(),
    )
    await setSyncState(this.#deps.db, TABLES[entityType], id, 'synced')
  }

  /**
   * Dismisses the open field conflicts of an entity whose delete reached FHIR: neither side's
   * value exists any more, so no steward needs to decide them.
   */
  async #dismissFieldConflicts(entityType: 'patient' | 'condition', id: string): Promise<void> {
    await this.#deps.conflicts.dismissOpenByEntity(
      this.#deps.db,
      { entityType, entityId: id },
      {
        resolvedBy: 'fhir-push',
        reason: 'The registry deleted the entity, and the delete reached FHIR',
        fieldsOnly: true,
      },
      this.#deps.clock.now(),
    )
  }

  /** Open conflicts of the row's fields; a deletion conflict is handled before this is asked. */
  async #conflicts(entityType: 'patient' | 'condition', id: string): Promise<ConflictRow[]> {
    const open = await this.#deps.conflicts.listOpenByEntity(this.#deps.db, entityType, id)
    return open.filter((conflict) => conflict.field_path !== DELETION_FIELD)
  }

  /**
   * Lists the open conflicts of the row's fields, after closing those whose part now has the same
   * value on both sides, so a registry edit that takes FHIR's value ends the conflict.
   */
  async #openConflicts(
    entityType: 'patient' | 'condition',
    id: string,
    fields: Record<string, unknown>,
    fhirFields: Record<string, unknown> | null,
  ): Promise<ConflictRow[]> {
    if (fhirFields === null) return this.#conflicts(entityType, id)
    return this.#deps.merge.settleConflicts(entityType, id, fields, fhirFields)
  }

  /** True while a steward has not settled a delete against an edit: the delete waits. */
  async #deleteHeldBack(entityType: 'patient' | 'condition', id: string): Promise<boolean> {
    const open = await this.#deps.conflicts.listOpenByEntity(this.#deps.db, entityType, id)
    return open.some((conflict) => conflict.field_path === DELETION_FIELD)
  }

  /**
   * The row's fields with each part that waits for a steward set to FHIR's current value, so
   * neither side's value of an open conflict is written before someone decides.
   */
  #withHeldBack<Fields extends Record<string, unknown>>(
    entityType: 'patient' | 'condition',
    fields: Fields,
    fhirFields: Fields | null,
    open: readonly ConflictRow[],
  ): Fields {
    if (fhirFields === null || open.length === 0) return fields
    const entity = this.#deps.merge.entity(entityType)
    const heldBack = open.map((conflict) => ({
      field: conflict.field_path,
      itemKey: conflict.item_key,
    }))
    const view = withHeldBackParts(
      entity.shapes,
      entity.toView(fields),
      entity.toView(fhirFields),
      heldBack,
    )
    return entity.fromView(view) as Fields
  }

  async #record(
    table: SyncedTable,
    row: PatientRow | ConditionRow,
    stored: FhirPatient | FhirCondition,
    base: unknown,
    open: readonly ConflictRow[],
  ): Promise<void> {
    await recordSyncPoint(this.#deps.db, table, row.id, {
      fhirVersionId: versionIdOf(stored),
      fhirLastUpdated: stored.meta?.lastUpdated ? new Date(stored.meta.lastUpdated) : null,
      base,
      rowVersion: row.version,
      inStep: true,
    })
    if (open.length > 0) await setSyncState(this.#deps.db, table, row.id, 'conflict')
  }
}

/** Marks the row synced if it has a FHIR version, that is if it was ever in step with FHIR. */
async function setSyncStateOfRowsInFhir(
  db: Kysely<Database>,
  table: SyncedTable,
  id: string,
): Promise<void> {
  await db
    .updateTable(table as 'patients')
    .set({ sync_state: 'synced', sync_error: null })
    .where('id', '=', id)
    .where('fhir_version_id', 'is not', null)
    .execute()
}
