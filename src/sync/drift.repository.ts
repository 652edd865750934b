import { sql, type Selectable } from 'kysely'
import type { ConditionRow } from '../conditions/condition.repository.ts'
import type { PatientRow } from '../patients/patient.repository.ts'
import {
  toJson,
  toJsonOrNull,
  type DriftFindingTable,
  type DriftRequester,
  type DriftRunTable,
  type Executor,
} from '../platform/db.ts'
import { type PageCursor, isAfterCursor } from '../platform/paging.ts'
import type { DriftKind } from '../platform/queue.ts'
import type { SyncedResourceType } from '../platform/sync-modes.ts'
import { UNKNOWN_RESOURCE, type KnownResource } from './drift-history.ts'

export type DriftRunRow = Selectable<DriftRunTable>
export type DriftFindingRow = Selectable<DriftFindingTable>

export interface NewFinding {
  runId: string
  entityType: 'patient' | 'condition'
  entityId: string
  fhirId: string | null
  kind: string
  fields: readonly string[]
  action: string
  registryFhirVersionId: number | null
  fhirVersionId: number | null
  fhirStatus: 'found' | 'deleted' | 'missing'
}

const SYNCED_TABLES = { Patient: 'patients', Condition: 'conditions' } as const

// Written out in full, so that the select and the group by name the same expression.
const isDelete = sql<boolean>`method = 'DELETE'`

/** Queries of the drift runs, cursors and findings, and the reads of synced rows drift needs. */
export class DriftRepository {
  async insertRun(
    db: Executor,
    run: {
      kind: DriftKind
      status: 'queued' | 'running'
      requestedBy: DriftRequester
      jobId: string | null
      now: Date
    },
  ): Promise<DriftRunRow> {
    return db
      .insertInto('drift_runs')
      .values({
        kind: run.kind,
        status: run.status,
        requested_by: run.requestedBy,
        job_id: run.jobId,
        attempts: run.status === 'running' ? 1 : 0,
        started_at: run.status === 'running' ? run.now : null,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
  }

  async findRun(db: Executor, id: string): Promise<DriftRunRow | undefined> {
    return db.selectFrom('drift_runs').selectAll().where('id', '=', id).executeTakeFirst()
  }

  async findRunByJob(db: Executor, jobId: string): Promise<DriftRunRow | undefined> {
    return db.selectFrom('drift_runs').selectAll().where('job_id', '=', jobId).executeTakeFirst()
  }

  /** Lists the runs of a kind that wait or run, oldest first. */
  async listActive(db: Executor, kind: DriftKind): Promise<DriftRunRow[]> {
    return db
      .selectFrom('drift_runs')
      .selectAll()
      .where('kind', '=', kind)
      .where('status', 'in', ['queued', 'running'])
      .orderBy('created_at')
      .orderBy('id')
      .execute()
  }

  /** Lists runs newest first, of one kind when given. */
  async listRuns(db: Executor, kind: DriftKind | undefined, limit: number): Promise<DriftRunRow[]> {
    let query = db.selectFrom('drift_runs').selectAll()
    if (kind) query = query.where('kind', '=', kind)
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute()
  }

  async lastFinished(db: Executor, kind: DriftKind): Promise<DriftRunRow | undefined> {
    return db
      .selectFrom('drift_runs')
      .selectAll()
      .where('kind', '=', kind)
      .where('status', '=', 'finished')
      .orderBy('finished_at', 'desc')
      .limit(1)
      .executeTakeFirst()
  }

  /** Marks a run as running under `jobId`; a resumed run keeps its first start time. */
  async markRunning(db: Executor, id: string, jobId: string, now: Date): Promise<DriftRunRow> {
    return db
      .updateTable('drift_runs')
      .set((eb) => ({
        status: 'running',
        job_id: jobId,
        started_at: eb.fn.coalesce('started_at', eb.val(now)),
        attempts: eb('attempts', '+', 1),
        error: null,
      }))
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow()
  }

  async setJob(db: Executor, id: string, jobId: string): Promise<void> {
    await db.updateTable('drift_runs').set({ job_id: jobId }).where('id', '=', id).execute()
  }

  async saveProgress(
    db: Executor,
    id: string,
    progress: unknown,
    counts: Record<string, number>,
  ): Promise<void> {
    await db
      .updateTable('drift_runs')
      .set({ progress: toJsonOrNull(progress), counts: toJson(counts) })
      .where('id', '=', id)
      .execute()
  }

  async finishRun(
    db: Executor,
    id: string,
    result: {
      counts: Record<string, number>
      cursorFrom: Date | null
      cursorTo: Date | null
      now: Date
    },
  ): Promise<void> {
    await db
      .updateTable('drift_runs')
      .set({
        status: 'finished',
        finished_at: result.now,
        counts: toJson(result.counts),
        cursor_from: result.cursorFrom,
        cursor_to: result.cursorTo,
        error: null,
      })
      .where('id', '=', id)
      .execute()
  }

  /** Records a failed attempt: `queued` when pg-boss retries the job, `failed` after the last. */
  async recordFailure(
    db: Executor,
    id: string,
    failure: { status: 'queued' | 'failed'; error: string; now: Date },
  ): Promise<void> {
    await db
      .updateTable('drift_runs')
      .set({
        status: failure.status,
        error: failure.error,
        finished_at: failure.status === 'failed' ? failure.now : null,
      })
      .where('id', '=', id)
      .execute()
  }

  /** Deletes finished and failed runs that ended before `cutoff`, with their findings. */
  async deleteEndedBefore(db: Executor, cutoff: Date): Promise<number> {
    const result = await db
      .deleteFrom('drift_runs')
      .where('status', 'in', ['finished', 'failed'])
      .where('finished_at', '<', cutoff)
      .executeTakeFirst()
    return Number(result.numDeletedRows)
  }

  async listCursors(
    db: Executor,
  ): Promise<{ resource_type: string; cursor: Date; run_id: string | null; updated_at: Date }[]> {
    return db.selectFrom('drift_cursors').selectAll().orderBy('resource_type').execute()
  }

  async findCursor(db: Executor, resourceType: string): Promise<Date | undefined> {
    const row = await db
      .selectFrom('drift_cursors')
      .select('cursor')
      .where('resource_type', '=', resourceType)
      .executeTakeFirst()
    return row?.cursor
  }

  /** Saves cursors; a cursor never moves back, so an older run cannot undo a newer one. */
  async saveCursor(
    db: Executor,
    cursor: { resourceType: string; cursor: Date; runId: string; now: Date },
  ): Promise<void> {
    await db
      .insertInto('drift_cursors')
      .values({
        resource_type: cursor.resourceType,
        cursor: cursor.cursor,
        run_id: cursor.runId,
        updated_at: cursor.now,
      })
      .onConflict((oc) =>
        oc.column('resource_type').doUpdateSet({
          cursor: sql<Date>`greatest(drift_cursors.cursor, excluded.cursor)`,
          run_id: (eb) => eb.ref('excluded.run_id'),
          updated_at: (eb) => eb.ref('excluded.updated_at'),
        }),
      )
      .execute()
  }

  async insertFindings(db: Executor, findings: readonly NewFinding[]): Promise<void> {
    if (findings.length === 0) return
    await db
      .insertInto('drift_findings')
      .values(
        findings.map((finding) => ({
          run_id: finding.runId,
          entity_type: finding.entityType,
          entity_id: finding.entityId,
          fhir_id: finding.fhirId,
          kind: finding.kind,
          fields: toJson(finding.fields),
          action: finding.action,
          registry_fhir_version_id: finding.registryFhirVersionId,
          fhir_version_id: finding.fhirVersionId,
          fhir_status: finding.fhirStatus,
        })),
      )
      .execute()
  }

  async listFindings(
    db: Executor,
    runId: string,
    limit: number,
    after?: PageCursor,
  ): Promise<DriftFindingRow[]> {
    let query = db.selectFrom('drift_findings').selectAll().where('run_id', '=', runId)
    if (after) query = query.where(isAfterCursor(after))
    return query.orderBy('created_at').orderBy('id').limit(limit).execute()
  }

  /**
   * Reads what the registry recorded of these FHIR resources: the rows' FHIR versions and
   * deletions, and the highest versions of notifications already recorded.
   */
  async knownResources(
    db: Executor,
    resourceType: SyncedResourceType,
    fhirIds: readonly string[],
  ): Promise<Map<string, KnownResource>> {
    const known = new Map<string, KnownResource>()
    if (fhirIds.length === 0) return known
    const rows = await db
      .selectFrom(SYNCED_TABLES[resourceType] as 'patients')
      .select(['fhir_id', 'fhir_version_id', 'deleted_at'])
      .where('fhir_id', 'in', fhirIds)
      .execute()
    for (const row of rows) {
      known.set(row.fhir_id ?? '', {
        ...UNKNOWN_RESOURCE,
        rowVersionId: row.fhir_version_id,
        rowDeleted: row.deleted_at !== null,
      })
    }

    const notified = await db
      .selectFrom('fhir_notifications')
      .select((eb) => [
        'resource_id',
        isDelete.as('is_delete'),
        eb.fn.max('version_id').as('version_id'),
      ])
      .where('resource_type', '=', resourceType)
      .where('resource_id', 'in', fhirIds)
      .where('version_id', 'is not', null)
      .groupBy(['resource_id', isDelete])
      .execute()
    for (const row of notified) {
      const id = row.resource_id ?? ''
      const current = known.get(id) ?? UNKNOWN_RESOURCE
      known.set(
        id,
        row.is_delete
          ? { ...current, notifiedDeleteVersionId: row.version_id }
          : { ...current, notifiedVersionId: row.version_id },
      )
    }
    return known
  }

  /** Lists patients with a FHIR id, deleted ones too, in id order after `afterId`. */
  async listPatientsAfter(
    db: Executor,
    afterId: string | null,
    limit: number,
  ): Promise<PatientRow[]> {
    let query = db.selectFrom('patients').selectAll().where('fhir_id', 'is not', null)
    if (afterId !== null) query = query.where('id', '>', afterId)
    return query.orderBy('id').limit(limit).execute()
  }

  /** Lists conditions with a FHIR id, deleted ones too, in id order after `afterId`. */
  async listConditionsAfter(
    db: Executor,
    afterId: string | null,
    limit: number,
  ): Promise<ConditionRow[]> {
    let query = db.selectFrom('conditions').selectAll().where('fhir_id', 'is not', null)
    if (afterId !== null) query = query.where('id', '>', afterId)
    return query.orderBy('id').limit(limit).execute()
  }
}
