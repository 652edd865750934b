import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  mergeSingletonKey,
  parkedMergeRetryDelaySeconds,
  PARKED_MERGE_RETRY_DELAYS_SECONDS,
  QUEUES,
  sendDelayedMergeJob,
  type MergeJobData,
} from '../src/platform/queue.ts'
import {
  NotificationRepository,
  UNRESOLVED_OUTCOME,
  type NotificationRow,
} from '../src/sync/notification.repository.ts'
import { startTestRegistry, type TestRegistry } from './harness.ts'

let t: TestRegistry
const notifications = new NotificationRepository()
/** Distinguishes the resource ids of each test, because the tests share one schema. */
let resourceCounter = 0

beforeAll(async () => {
  // No workers, so the delayed jobs stay in the queue for the test to inspect.
  t = await startTestRegistry('parked', { PROCESS_ROLE: 'api', REGISTER_SUBSCRIPTIONS: 'false' })
})

afterAll(async () => {
  await t.stop()
})

function nextResourceId(): string {
  resourceCounter += 1
  return `parked-${resourceCounter}`
}

/** Records `count` deliveries of one Condition and returns their ids. */
async function insertDeliveries(resourceId: string, count: number): Promise<string[]> {
  const ids: string[] = []
  for (let version = 1; version <= count; version += 1) {
    const id = await notifications.insert(t.registry.db, {
      method: 'PUT',
      resourceType: 'Condition',
      resourceId,
      versionId: version,
      payload: null,
    })
    if (id === null)
      throw new Error(`Delivery of version ${String(version)} was taken for a duplicate`)
    ids.push(id)
  }
  return ids
}

async function rowsOf(ids: readonly string[]): Promise<NotificationRow[]> {
  return t.registry.db
    .selectFrom('fhir_notifications')
    .selectAll()
    .where('id', 'in', ids)
    .orderBy('id')
    .execute()
}

describe('NotificationRepository.park', () => {
  it('keeps the notifications unprocessed', async () => {
    const resourceId = nextResourceId()
    const ids = await insertDeliveries(resourceId, 2)
    const nextAttemptAt = new Date(Date.now() + 30_000)

    await notifications.park(t.registry.db, ids, 'identifier-not-found', nextAttemptAt)
    const rows = await rowsOf(ids)
    const unprocessed = await notifications.listUnprocessed(t.registry.db, 'Condition', resourceId)

    expect(rows.map((row) => row.processed_at)).toEqual([null, null])
    expect(rows.map((row) => row.parked_reason)).toEqual([
      'identifier-not-found',
      'identifier-not-found',
    ])
    expect(rows.map((row) => row.attempts)).toEqual([1, 1])
    expect(rows.map((row) => row.next_attempt_at?.getTime())).toEqual([
      nextAttemptAt.getTime(),
      nextAttemptAt.getTime(),
    ])
    expect(unprocessed.map((row) => row.id)).toEqual(ids)
  })

  it('counts each parking and keeps the last reason', async () => {
    const ids = await insertDeliveries(nextResourceId(), 1)

    await notifications.park(t.registry.db, ids, 'identifier-not-found', new Date())
    await notifications.park(t.registry.db, ids, 'identifier-ambiguous', new Date())
    const [row] = await rowsOf(ids)

    expect(row?.attempts).toBe(2)
    expect(row?.parked_reason).toBe('identifier-ambiguous')
  })

  it('leaves processed notifications alone', async () => {
    const ids = await insertDeliveries(nextResourceId(), 1)
    await notifications.markProcessed(t.registry.db, ids, 'created', new Date())

    await notifications.park(t.registry.db, ids, 'identifier-not-found', new Date())
    const [row] = await rowsOf(ids)

    expect(row?.attempts).toBe(0)
    expect(row?.parked_reason).toBeNull()
    expect(row?.outcome).toBe('created')
  })

  it('accepts an empty id list', async () => {
    await expect(
      notifications.park(t.registry.db, [], 'identifier-not-found', new Date()),
    ).resolves.toBeUndefined()
  })
})

describe('NotificationRepository.markUnresolved', () => {
  it('processes the notifications with their reason', async () => {
    const resourceId = nextResourceId()
    const ids = await insertDeliveries(resourceId, 1)
    await notifications.park(t.registry.db, ids, 'identifier-not-found', new Date())
    const now = new Date()

    await notifications.markUnresolved(t.registry.db, ids, 'identifier-ambiguous', now)
    const [row] = await rowsOf(ids)
    const unprocessed = await notifications.listUnprocessed(t.registry.db, 'Condition', resourceId)
    const parked = await notifications.listParked(t.registry.db, 1_000)

    expect(row?.processed_at?.getTime()).toBe(now.getTime())
    expect(row?.outcome).toBe(UNRESOLVED_OUTCOME)
    expect(row?.parked_reason).toBe('identifier-ambiguous')
    expect(row?.attempts).toBe(2)
    expect(row?.next_attempt_at).toBeNull()
    expect(unprocessed).toEqual([])
    expect(parked.map((parkedRow) => parkedRow.id)).not.toContain(ids[0])
  })

  it('keeps the outcome of processed notifications', async () => {
    const ids = await insertDeliveries(nextResourceId(), 1)
    await notifications.markProcessed(t.registry.db, ids, 'merged', new Date())

    await notifications.markUnresolved(t.registry.db, ids, 'identifier-not-found', new Date())
    const [row] = await rowsOf(ids)

    expect(row?.outcome).toBe('merged')
  })
})

describe('NotificationRepository.listParked', () => {
  it('lists parked notifications by due time', async () => {
    const [late = '', early = '', notParked = ''] = await insertDeliveries(nextResourceId(), 3)
    const base = Date.now() + 3_600_000
    await notifications.park(t.registry.db, [late], 'patient-not-found', new Date(base + 2_000))
    await notifications.park(t.registry.db, [early], 'patient-not-found', new Date(base + 1_000))

    const parked = (await notifications.listParked(t.registry.db, 1_000)).map((row) => row.id)

    expect(parked).toContain(early)
    expect(parked).toContain(late)
    expect(parked).not.toContain(notParked)
    expect(parked.indexOf(early)).toBeLessThan(parked.indexOf(late))
  })

  it('returns at most the limit', async () => {
    const ids = await insertDeliveries(nextResourceId(), 3)
    await notifications.park(t.registry.db, ids, 'patient-not-found', new Date())

    const parked = await notifications.listParked(t.registry.db, 2)

    expect(parked).toHaveLength(2)
  })
})

describe('parkedMergeRetryDelaySeconds', () => {
  it('walks the schedule, then gives up', () => {
    const delays = [0, 1, 2, 3, 4, 5, 6].map((attempts) => parkedMergeRetryDelaySeconds(attempts))

    expect(delays).toEqual([...PARKED_MERGE_RETRY_DELAYS_SECONDS, null, null])
  })

  it('grows with each attempt', () => {
    const pairs = PARKED_MERGE_RETRY_DELAYS_SECONDS.slice(1).map((delay, index) => [
      PARKED_MERGE_RETRY_DELAYS_SECONDS[index] ?? 0,
      delay,
    ])

    for (const [earlier = 0, later = 0] of pairs) expect(later).toBeGreaterThan(earlier)
  })
})

describe('sendDelayedMergeJob', () => {
  it('holds the job back by the delay', async () => {
    const data: MergeJobData = { resourceType: 'Condition', resourceId: nextResourceId() }
    const sentAt = Date.now()

    const jobId = await sendDelayedMergeJob(t.registry.queue, data, 600)
    const [job] = await t.registry.queue.boss.findJobs<MergeJobData>(QUEUES.fhirMerge, {
      id: jobId ?? '',
    })

    expect(jobId).not.toBeNull()
    expect(job?.state).toBe('created')
    expect(job?.data).toEqual(data)
    expect(job?.singletonKey).toBe(mergeSingletonKey(data))
    // pg-boss computes startAfter on the database clock, which may differ a little from ours.
    expect(job?.startAfter.getTime()).toBeGreaterThan(sentAt + 590_000)
    expect(job?.startAfter.getTime()).toBeLessThan(sentAt + 610_000)
  })

  it('uses the key of the receiver merge jobs', () => {
    expect(mergeSingletonKey({ resourceType: 'Condition', resourceId: 'c1' })).toBe('Condition/c1')
  })

  it('coalesces with a waiting job of the resource', async () => {
    const data: MergeJobData = { resourceType: 'Condition', resourceId: nextResourceId() }

    const first = await sendDelayedMergeJob(t.registry.queue, data, 600)
    const immediate = await t.registry.queue.send(QUEUES.fhirMerge, data, {
      singletonKey: mergeSingletonKey(data),
    })
    const second = await sendDelayedMergeJob(t.registry.queue, data, 30)

    expect(first).not.toBeNull()
    expect(immediate).toBeNull()
    expect(second).toBeNull()
  })

  it('joins the caller transaction', async () => {
    const data: MergeJobData = { resourceType: 'Condition', resourceId: nextResourceId() }

    await expect(
      t.registry.db.transaction().execute(async (trx) => {
        await sendDelayedMergeJob(t.registry.queue, data, 600, trx)
        throw new Error('roll back')
      }),
    ).rejects.toThrow('roll back')
    const after = await sendDelayedMergeJob(t.registry.queue, data, 600)

    expect(after).not.toBeNull()
  })
})

describe('NotificationRepository.insert', () => {
  it('records a repeated delivery of one version once', async () => {
    const resourceId = nextResourceId()
    const delivery = {
      method: 'PUT',
      resourceType: 'Condition',
      resourceId,
      versionId: 3,
      payload: null,
    }

    const first = await notifications.insert(t.registry.db, delivery)
    const repeat = await notifications.insert(t.registry.db, delivery)
    const pending = await notifications.listUnprocessed(t.registry.db, 'Condition', resourceId)

    expect(first).not.toBeNull()
    expect(repeat).toBeNull()
    expect(pending.map((row) => row.id)).toEqual([first])
  })

  it('records the version again once the first row is processed', async () => {
    const resourceId = nextResourceId()
    const delivery = {
      method: 'PUT',
      resourceType: 'Condition',
      resourceId,
      versionId: 1,
      payload: null,
    }
    const first = await notifications.insert(t.registry.db, delivery)
    await notifications.markProcessed(t.registry.db, [first ?? ''], 'merged', new Date())

    const again = await notifications.insert(t.registry.db, delivery)

    expect(again).not.toBeNull()
  })
})
