import { BearerSecret } from '../auth/bearer-secret.ts'
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import type { Kysely } from 'kysely'
import type { Database } from '../platform/db.ts'
import { UnauthorizedError } from '../platform/errors.ts'
import { SUBSCRIPTION_SECRET_SCHEME } from '../auth/access.ts'
import { RECEIVER_PATH, type AppEnv } from '../platform/http.ts'
import {
  QUEUES,
  mergeSingletonKey,
  transactionWithJobs,
  type JobQueue,
  type MergeJobData,
} from '../platform/queue.ts'
import { operationOutcomeSchema } from '../platform/operation-outcome.ts'
import type { DriftService } from './drift.service.ts'
import type { NotificationRepository } from './notification.repository.ts'
import {
  FHIR_ID,
  RESOURCE_TYPE,
  checkResourceMatchesPath,
  deliveriesOfBundle,
  parseResource,
  type Delivery,
} from './rest-hook-payload.ts'

export { RECEIVER_PATH }

export interface NotificationReceiverDeps {
  db: Kysely<Database>
  notifications: NotificationRepository
  queue: JobQueue
  secret: string
  /** Types whose FHIR changes the registry merges; deliveries of other types are dropped. */
  pulledTypes: readonly string[]
  /** Starts a catch-up run for an empty notification, which names no resource. */
  drift: Pick<DriftService, 'requestCatchUp'>
}

/**
 * Records rest-hook deliveries and queues their merge. It responds as soon as the delivery is
 * stored, because HAPI gives up on an endpoint after about a minute of failures and drops what
 * it could not deliver.
 */
export class NotificationReceiver {
  readonly #deps: NotificationReceiverDeps
  readonly #secret: BearerSecret

  constructor(deps: NotificationReceiverDeps) {
    this.#deps = deps
    this.#secret = new BearerSecret(deps.secret)
  }

  /** Checks the Authorization header in constant time. */
  authenticate(header: string | undefined): void {
    if (!this.#secret.matches(header)) {
      throw new UnauthorizedError('The rest-hook secret is missing or wrong')
    }
  }

  /**
   * Records one delivery and queues the merge of its resource. Returns false for a type that is
   * not synced from FHIR, which is dropped: a Subscription left from an earlier sync mode may
   * still deliver it.
   */
  async accept(delivery: Delivery): Promise<boolean> {
    if (!this.#deps.pulledTypes.includes(delivery.resourceType)) return false
    const { db, notifications, queue } = this.#deps
    const versionId = Number(delivery.resource?.meta?.versionId)
    const data: MergeJobData = {
      resourceType: delivery.resourceType as MergeJobData['resourceType'],
      resourceId: delivery.resourceId,
    }
    await transactionWithJobs(db, queue, async (trx, jobs) => {
      await notifications.insert(trx, {
        method: delivery.method,
        resourceType: delivery.resourceType,
        resourceId: delivery.resourceId,
        versionId: Number.isInteger(versionId) ? versionId : null,
        payload: delivery.resource,
      })
      await jobs.send(QUEUES.fhirMerge, data, { singletonKey: mergeSingletonKey(data) })
    })
    // A parked Condition waits for a delayed retry, and a new delivery, perhaps the fix, should
    // not wait with it.
    if (data.resourceType === 'Condition') {
      await queue.startDelayedNow(QUEUES.fhirMerge, data, mergeSingletonKey(data))
    }
    return true
  }

  /**
   * Asks for a catch-up run for an empty notification. A payload-less Subscription sends one for
   * every change and names no resource, so only HAPI's history shows what changed.
   */
  async requestCatchUp(): Promise<{ runId: string; queued: boolean }> {
    const { run, queued } = await this.#deps.drift.requestCatchUp()
    return { runId: run.id, queued }
  }
}

const resourceParams = z.object({
  type: z
    .string()
    .regex(RESOURCE_TYPE)
    .openapi({ param: { name: 'type', in: 'path' }, example: 'Patient' }),
  id: z
    .string()
    .regex(FHIR_ID)
    .openapi({ param: { name: 'id', in: 'path' }, example: '1234' }),
})

const authorization = z.object({
  authorization: z
    .string()
    .optional()
    .openapi({ description: 'Bearer and the subscription secret' }),
})

const TAG = 'FHIR rest-hook'

const outcomeContent = { 'application/fhir+json': { schema: operationOutcomeSchema } }

/** Error responses of the receiver, which are OperationOutcomes because HAPI is the caller. */
const OUTCOME_RESPONSES = {
  400: { description: 'Invalid path or body', content: outcomeContent },
  401: { description: 'The subscription secret is missing or wrong', content: outcomeContent },
  413: { description: 'The body is too large', content: outcomeContent },
  415: { description: 'The body is not FHIR JSON', content: outcomeContent },
} as const

/**
 * Describes the body HAPI sends, for the OpenAPI document and the router's body check. The
 * handlers parse it themselves, because no zod schema here describes every FHIR resource.
 */
function resourceBody(description: string) {
  const schema = { type: 'object' as const, description }
  return {
    required: false,
    content: {
      'application/fhir+json': { schema },
      'application/json': { schema },
    },
  }
}

const putRoute = createRoute({
  method: 'put',
  path: `${RECEIVER_PATH}/{type}/{id}`,
  operationId: 'receiveResourceNotification',
  security: [{ [SUBSCRIPTION_SECRET_SCHEME]: [] }],
  tags: [TAG],
  summary: 'Receive the changed resource from a HAPI rest-hook Subscription',
  description:
    'HAPI sends creates, updates and $trigger-subscription replays as a PUT with the resource version that triggered it. The If-Match header it adds is ignored.',
  request: {
    params: resourceParams,
    headers: authorization,
    body: resourceBody('The resource version that triggered the Subscription'),
  },
  responses: {
    204: { description: 'Recorded; the merge runs in the background' },
    ...OUTCOME_RESPONSES,
  },
})

const deleteRoute = createRoute({
  method: 'delete',
  path: `${RECEIVER_PATH}/{type}/{id}`,
  operationId: 'receiveDeleteNotification',
  security: [{ [SUBSCRIPTION_SECRET_SCHEME]: [] }],
  tags: [TAG],
  summary: 'Receive a delete from a HAPI rest-hook Subscription',
  request: { params: resourceParams, headers: authorization },
  responses: {
    204: { description: 'Recorded' },
    ...OUTCOME_RESPONSES,
  },
})

const postRoute = createRoute({
  method: 'post',
  path: RECEIVER_PATH,
  operationId: 'receiveBundleNotification',
  security: [{ [SUBSCRIPTION_SECRET_SCHEME]: [] }],
  tags: [TAG],
  summary: 'Receive a Bundle notification, or an empty one from a payload-less Subscription',
  request: {
    headers: authorization,
    body: resourceBody('A history or transaction Bundle; empty from a payload-less Subscription'),
  },
  responses: {
    204: { description: 'Recorded' },
    ...OUTCOME_RESPONSES,
  },
})

export function registerReceiverRoutes(
  app: OpenAPIHono<AppEnv>,
  receiver: NotificationReceiver,
): void {
  // The secret is checked before the path and body are validated, so a caller without it learns
  // nothing about what the receiver accepts.
  const middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    receiver.authenticate(c.req.header('authorization'))
    await next()
  }

  app.openapi({ ...putRoute, middleware }, async (c) => {
    const { type, id } = c.req.valid('param')
    const resource = parseResource(await c.req.text())
    if (resource) checkResourceMatchesPath(resource, type, id)
    const accepted = await receiver.accept({
      method: 'PUT',
      resourceType: type,
      resourceId: id,
      resource,
    })
    if (!accepted)
      c.get('logger').debug('Notification for a type not synced ignored', { resourceType: type })
    return c.body(null, 204)
  })

  app.openapi({ ...deleteRoute, middleware }, async (c) => {
    const { type, id } = c.req.valid('param')
    await receiver.accept({ method: 'DELETE', resourceType: type, resourceId: id, resource: null })
    return c.body(null, 204)
  })

  app.openapi({ ...postRoute, middleware }, async (c) => {
    const body = parseResource(await c.req.text())
    if (body === null) {
      const { runId, queued } = await receiver.requestCatchUp()
      c.get('logger').info('Empty rest-hook notification received; catch-up requested', {
        runId,
        queued,
      })
      return c.body(null, 204)
    }
    for (const delivery of deliveriesOfBundle(body)) await receiver.accept(delivery)
    return c.body(null, 204)
  })
}
