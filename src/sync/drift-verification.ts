import type { Resource } from '@medplum/fhirtypes'
import type { Kysely } from 'kysely'
import type { AuditRepository } from '../audit/audit.repository.ts'
import { versionIdOf, type FhirClient, type ReadState } from '../fhir/fhir-client.ts'
import { sameValue } from '../platform/canonical-json.ts'
import type { Clock } from '../platform/clock.ts'
import type { Database } from '../platform/db.ts'
import type { Logger } from '../platform/logger.ts'
import { QUEUES, transactionWithJobs, type JobQueue } from '../platform/queue.ts'
import { recordSyncPoint } from '../platform/sync-columns.ts'
import type { SyncModes } from '../platform/sync-modes.ts'
import type { DriftRepository, NewFinding } from './drift.repository.ts'
import {
  chunkIds,
  classifyRow,
  differingFields,
  fhirSideView,
  registryKeptFields,
  repairFor,
  type FhirSnapshot,
  type FindingKind,
  type RepairAction,
} from './drift-classification.ts'
import { feedToMerge, type DriftChange } from './drift-feed.ts'
import type { InboundMerge } from './inbound-merge.ts'
import type { NotificationRepository } from './notification.repository.ts'
import type { ConditionRow } from '../conditions/condition.repository.ts'
import type { PatientRow } from '../patients/patient.repository.ts'

/** Actor of the registry changes and audit rows that a verification repair writes itself. */
export const DRIFT_ACTOR = 'drift'

/**
 * Age of a row's last change after which its pending push counts as lost. With the default 8
 * tries and no Retry-After from HAPI, a push gives up within about 5 minutes and marks the row
 * failed. A push queued for a row whose retry still waits is harmless: the stately queue drops
 * it beside the waiting job.
 */
export const STALLED_PUSH_MS = 15 * 60 * 1000

/** Length of the `_id=` list of one search; HAPI 8.8 rejected request lines of about 8 KB. */
const MAX_ID_LIST_CHARS = 6_000

const ENTITY_TYPES = ['patient', 'condition'] as const

type EntityType = (typeof ENTITY_TYPES)[number]

const RESOURCE_TYPES = { patient: 'Patient', condition: 'Condition' } as const

type SyncedRow = PatientRow | ConditionRow

/** The position of a verification run: the last row it checked, saved after every page. */
export interface VerificationProgress {
  entityType: EntityType
  afterId: string | null
}

export type VerificationCounts = Record<
  'checked' | 'findings' | 'mergesQueued' | 'pushesQueued' | 'fhirValuesTaken' | 'notRepaired',
  number
> &
  Partial<Record<FindingKind, number>>

export interface DriftVerificationDeps {
  db: Kysely<Database>
  fhir: FhirClient
  drift: DriftRepository
  notifications: NotificationRepository
  queue: JobQueue
  merge: InboundMerge
  audit: AuditRepository
  clock: Clock
  syncModes: SyncModes
  pageSize: number
}

interface Checked {
  finding: NewFinding
  action: RepairAction
  resource: Resource | null
  entityId: string
}

/**
 * Compares every synced row with its FHIR resource, page by page, and records each difference as
 * a finding. Repairs go through the paths that normal changes take: the merge for FHIR changes
 * the registry missed, and the push for registry changes FHIR missed.
 */
export class DriftVerification {
  readonly #deps: DriftVerificationDeps

  constructor(deps: DriftVerificationDeps) {
    this.#deps = deps
  }

  /**
   * Runs one verification, from `progress` when a worker died during an earlier attempt of the
   * same run. It saves its progress and counts after every page.
   */
  async run(
    runId: string,
    resume: { progress: VerificationProgress | null; counts: Record<string, number> },
    logger: Logger,
  ): Promise<VerificationCounts> {
    const counts: VerificationCounts = { ...emptyCounts(), ...resume.counts }
    const start = resume.progress
    const types = ENTITY_TYPES.slice(start ? ENTITY_TYPES.indexOf(start.entityType) : 0)

    for (const entityType of types) {
      let afterId = start?.entityType === entityType ? start.afterId : null
      for (;;) {
        const rows = await this.#listRows(entityType, afterId)
        if (rows.length === 0) break
        await this.#checkPage(runId, entityType, rows, counts, logger)
        afterId = rows.at(-1)?.id ?? null
        const progress: VerificationProgress = { entityType, afterId }
        await this.#deps.drift.saveProgress(this.#deps.db, runId, progress, counts)
      }
    }
    return counts
  }

  async #listRows(entityType: EntityType, afterId: string | null): Promise<SyncedRow[]> {
    const { db, drift, pageSize } = this.#deps
    return entityType === 'patient'
      ? drift.listPatientsAfter(db, afterId, pageSize)
      : drift.listConditionsAfter(db, afterId, pageSize)
  }

  async #checkPage(
    runId: string,
    entityType: EntityType,
    rows: readonly SyncedRow[],
    counts: VerificationCounts,
    logger: Logger,
  ): Promise<void> {
    const entity = this.#deps.merge.entity(entityType)
    const resourceType = RESOURCE_TYPES[entityType]
    const direction = this.#deps.syncModes[resourceType].direction
    const kept = registryKeptFields(entity.rules, direction)
    const states = await this.#readStates(
      resourceType,
      rows.map((row) => row.fhir_id ?? ''),
    )
    const now = this.#deps.clock.now()

    const checked: Checked[] = []
    for (const row of rows) {
      counts.checked += 1
      const state = states.get(row.fhir_id ?? '') ?? { status: 'missing' }
      const resource = state.status === 'found' ? state.resource : null
      const differing = resource
        ? differingFields(
            entity.toView(entity.fieldsOfRow(row)),
            entity.toView(entity.fieldsOfResource(resource)),
            kept,
          )
        : []
      const fhir: FhirSnapshot = resource
        ? { status: 'found', versionId: versionIdOf(resource) }
        : { status: state.status === 'deleted' ? 'deleted' : 'missing' }
      // A type that only flows from FHIR is never pushed, so a pending or failed state there is
      // no push on its way and no push to repair.
      const syncState =
        direction === 'from-fhir' && row.sync_state !== 'conflict' ? 'synced' : row.sync_state
      const finding = classifyRow(
        {
          deleted: row.deleted_at !== null,
          fhirVersionId: row.fhir_version_id,
          syncState,
          updatedAt: row.updated_at,
        },
        fhir,
        differing,
        now,
        STALLED_PUSH_MS,
      )
      if (!finding) continue
      const action = repairFor(finding.kind, direction)
      checked.push({
        entityId: row.id,
        action,
        resource,
        finding: {
          runId,
          entityType,
          entityId: row.id,
          fhirId: row.fhir_id,
          kind: finding.kind,
          fields: finding.fields,
          action,
          registryFhirVersionId: row.fhir_version_id,
          fhirVersionId: fhir.status === 'found' ? fhir.versionId : null,
          fhirStatus: fhir.status,
        },
      })
    }
    if (checked.length === 0) return

    await this.#repair(entityType, checked, counts, logger)
    await this.#deps.drift.insertFindings(
      this.#deps.db,
      checked.map((item) => item.finding),
    )
    for (const item of checked) {
      counts.findings += 1
      counts[item.finding.kind as FindingKind] = (counts[item.finding.kind as FindingKind] ?? 0) + 1
      if (item.finding.kind === 'older-in-fhir') {
        logger.warn('FHIR has an older version than the registry recorded', {
          entityType,
          entityId: item.entityId,
          fhirId: `${resourceType}/${item.finding.fhirId ?? ''}`,
          registryFhirVersionId: item.finding.registryFhirVersionId,
          fhirVersionId: item.finding.fhirVersionId,
        })
      }
    }
  }

  async #repair(
    entityType: EntityType,
    checked: readonly Checked[],
    counts: VerificationCounts,
    logger: Logger,
  ): Promise<void> {
    const resourceType = RESOURCE_TYPES[entityType]
    const changes: DriftChange[] = []
    const pushes: string[] = []
    for (const item of checked) {
      if (item.action === 'merge' || item.action === 'merge-delete') {
        changes.push({
          resourceType,
          resourceId: item.finding.fhirId ?? '',
          versionId: item.finding.fhirVersionId,
          deleted: item.action === 'merge-delete',
          resource: item.resource,
        })
      } else if (item.action === 'push') {
        pushes.push(item.entityId)
      } else if (item.action === 'take-fhir' && item.resource) {
        const applied = await this.#takeFhirValues(entityType, item.resource, item.finding.runId)
        if (applied) counts.fhirValuesTaken += 1
      } else {
        counts.notRepaired += 1
      }
    }

    await feedToMerge(this.#deps, changes)
    counts.mergesQueued += changes.length
    if (pushes.length > 0) {
      await transactionWithJobs(this.#deps.db, this.#deps.queue, async (_trx, jobs) => {
        for (const entityId of pushes) {
          // The singleton key of the push that registry writes queue, so the two coalesce.
          await jobs.send(
            QUEUES.fhirPush,
            { entityType, entityId },
            { singletonKey: `${entityType}:${entityId}` },
          )
        }
      })
    }
    counts.pushesQueued += pushes.length
    if (changes.length + pushes.length > 0) {
      logger.info('Drift repairs queued', {
        entityType,
        merges: changes.length,
        pushes: pushes.length,
      })
    }
  }

  /**
   * Writes FHIR's mapped fields into the row of a type that only flows from FHIR, when both still
   * name the same version. Registry-owned fields, such as the registry identifier, stay. A merge
   * cannot do it, because it ignores a version the row recorded. Returns false when the row
   * moved on meanwhile; the next run looks again.
   */
  async #takeFhirValues(
    entityType: EntityType,
    resource: Resource,
    runId: string,
  ): Promise<boolean> {
    const { db, audit, clock } = this.#deps
    const entity = this.#deps.merge.entity(entityType)
    const versionId = versionIdOf(resource)
    const fhirFields = entity.fieldsOfResource(resource)
    const kept = registryKeptFields(entity.rules, 'from-fhir')

    return db.transaction().execute(async (trx) => {
      const row = await entity.findByFhirId(trx, resource.id ?? '', { forUpdate: true })
      if (!row || row.deleted_at !== null || row.fhir_version_id !== versionId) return false
      const before = entity.fieldsOfRow(row)
      const fields = entity.fromView(
        fhirSideView(entity.toView(before), entity.toView(fhirFields), kept),
      )
      if (sameValue(before, fields)) return false

      const now = clock.now()
      const updated = await entity.updateFields(trx, row, fields, {
        updatedBy: DRIFT_ACTOR,
        updatedAt: now,
      })
      await audit.record(trx, {
        actor: DRIFT_ACTOR,
        source: 'drift',
        action: 'update',
        entityType,
        entityId: row.id,
        before,
        after: fields,
        requestId: runId,
        occurredAt: now,
      })
      await recordSyncPoint(trx, entity.table, row.id, {
        fhirVersionId: versionId,
        fhirLastUpdated: resource.meta?.lastUpdated ? new Date(resource.meta.lastUpdated) : null,
        base: fhirFields,
        rowVersion: updated.version,
        inStep: true,
      })
      return true
    })
  }

  /**
   * Reads the current version of each resource with `_id` searches. A resource the search does
   * not return is read on its own, to tell a deleted one (410) from one that never existed (404).
   */
  async #readStates(
    resourceType: 'Patient' | 'Condition',
    fhirIds: readonly string[],
  ): Promise<Map<string, ReadState<Resource>>> {
    const { fhir } = this.#deps
    const states = new Map<string, ReadState<Resource>>()
    for (const chunk of chunkIds(fhirIds, MAX_ID_LIST_CHARS)) {
      const found = await fhir.searchAll<Resource>(resourceType, {
        _id: chunk.join(','),
        _count: String(chunk.length),
      })
      for (const resource of found) {
        states.set(resource.id ?? '', { status: 'found', resource })
      }
    }
    for (const id of fhirIds) {
      if (!states.has(id)) states.set(id, await fhir.readState(resourceType, id))
    }
    return states
  }
}

function emptyCounts(): VerificationCounts {
  return {
    checked: 0,
    findings: 0,
    mergesQueued: 0,
    pushesQueued: 0,
    fhirValuesTaken: 0,
    notRepaired: 0,
  }
}
