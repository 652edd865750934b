import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { serve, type ServerType } from '@hono/node-server'
import type { OpenAPIHono } from '@hono/zod-openapi'
import { Scalar } from '@scalar/hono-api-reference'
import type { Kysely } from 'kysely'
import type pg from 'pg'
import { AuditRepository } from './audit/audit.repository.ts'
import { registerAuditRoutes } from './audit/audit.routes.ts'
import { AuditService } from './audit/audit.service.ts'
import { BEARER_SCHEME, SUBSCRIPTION_SECRET_SCHEME } from './auth/access.ts'
import { registerAuthRoutes } from './auth/auth.routes.ts'
import { AuthService } from './auth/auth.service.ts'
import { CallerAccessReader } from './auth/caller-access.ts'
import { TokenService } from './auth/tokens.ts'
import { UserRepository } from './auth/user.repository.ts'
import { registerUserRoutes } from './auth/user.routes.ts'
import { UserService } from './auth/user.service.ts'
import { ConditionRepository } from './conditions/condition.repository.ts'
import { registerConditionRoutes } from './conditions/condition.routes.ts'
import { ConditionService } from './conditions/condition.service.ts'
import { CONSOLE_PATH, registerConsoleRoutes } from './console/console.routes.ts'
import { ConflictRepository } from './conflicts/conflict.repository.ts'
import { registerConflictRoutes } from './conflicts/conflict.routes.ts'
import { ConflictService } from './conflicts/conflict.service.ts'
import { FhirClient, type FetchFunction } from './fhir/fhir-client.ts'
import { NeurologyValueSet } from './fhir/neurology-value-set.ts'
import { mergeRulesFrom } from './merge/merge-rules.ts'
import { ensureSubscriptions, readSubscriptionStatuses } from './fhir/subscriptions.ts'
import { registerHealthRoutes } from './health/health.routes.ts'
import { QueueLagReader } from './health/queue-lag.ts'
import { Metrics } from './observability/metrics.ts'
import { MetricsRepository } from './observability/metrics.repository.ts'
import { startMetricsServer, type MetricsServer } from './observability/metrics-server.ts'
import { registerMetricsRoutes } from './observability/metrics.routes.ts'
import { recordRequestDuration } from './observability/request-metrics.ts'
import { registerSyncGauges } from './observability/sync-gauges.ts'
import { SyncSnapshotReader } from './observability/sync-snapshot.ts'
import { PatientRepository } from './patients/patient.repository.ts'
import { registerPatientRoutes } from './patients/patient.routes.ts'
import { PatientService } from './patients/patient.service.ts'
import { systemClock, type Clock } from './platform/clock.ts'
import type { Config } from './platform/config.ts'
import { createDb, createPool, ensureDatabaseExists, type Database } from './platform/db.ts'
import {
  createRouter,
  handleError,
  handleNotFound,
  limitBodySize,
  requestContext,
  type AppEnv,
} from './platform/http.ts'
import { createLogger, type Logger } from './platform/logger.ts'
import { migrate } from './platform/migrate.ts'
import { PgBossQueue, QUEUE_SETTINGS, QUEUES } from './platform/queue.ts'
import { registerValueSetRoutes } from './reference/value-set.routes.ts'
import { ValueSetService } from './reference/value-set.service.ts'
import { InboundMerge } from './sync/inbound-merge.ts'
import { NotificationRepository } from './sync/notification.repository.ts'
import {
  NotificationReceiver,
  RECEIVER_PATH,
  registerReceiverRoutes,
} from './sync/notification-receiver.ts'
import { OutboundPush } from './sync/outbound-push.ts'
import { PushBatch } from './sync/push-batch.ts'
import { SubjectResolver } from './sync/subject-resolver.ts'
import { SyncWorkers } from './sync/sync-workers.ts'
import { DriftCatchUp } from './sync/drift-catch-up.ts'
import { PgBossDriftJobs } from './sync/drift-jobs.ts'
import { DriftVerification } from './sync/drift-verification.ts'
import { DriftRepository } from './sync/drift.repository.ts'
import { registerDriftRoutes } from './sync/drift.routes.ts'
import { driftScheduleOf } from './sync/drift-scheduler.ts'
import { DriftService } from './sync/drift.service.ts'
import { Backfill } from './sync/backfill.ts'
import { BackfillRepository } from './sync/backfill.repository.ts'
import { SyncAdminRepository } from './sync/sync-admin.repository.ts'
import { registerSyncAdminRoutes } from './sync/sync-admin.routes.ts'
import { SyncAdminService } from './sync/sync-admin.service.ts'
import {
  SYNCED_RESOURCE_TYPES,
  pullsFromFhir,
  pushesToFhir,
  usesSubscription,
} from './platform/sync-modes.ts'
import { AppError } from './platform/errors.ts'

/** Release of the Scalar API reference viewer that the /docs page loads from jsDelivr. */
const SCALAR_VERSION = '1.76.4'

/** Replacements for outside dependencies, for tests. */
export interface RegistryOverrides {
  clock?: Clock
  logger?: Logger
  fetch?: FetchFunction
}

/** The wired registry: HTTP app, workers and their shared resources. */
export interface Registry {
  config: Config
  app: OpenAPIHono<AppEnv>
  db: Kysely<Database>
  pool: pg.Pool
  queue: PgBossQueue
  fhir: FhirClient
  logger: Logger
  /** The one-off copy of either side's data to the other; needs nothing of start(). */
  backfill: Backfill
  /** Writes one registry row to HAPI; needs nothing of start(). */
  push: OutboundPush
  /** Writes many registry rows to HAPI in one transaction Bundle; needs nothing of start(). */
  pushBatch: PushBatch
  /** Local users, and the tokens that sign them in; needs nothing of start(). */
  users: UserService
  tokens: TokenService
  /** Listens for HTTP, starts the workers and registers the Subscriptions, as PROCESS_ROLE selects. */
  start(): Promise<{ url: string }>
  stop(): Promise<void>
}

/**
 * Builds every part once: database, migrations, pg-boss, repositories, services, sync wing and
 * routes. Only the logger and the request id vary per request.
 */
export async function createRegistry(
  config: Config,
  overrides: RegistryOverrides = {},
): Promise<Registry> {
  const logger = overrides.logger ?? createLogger(config.LOG_LEVEL, { service: 'brain-registry' })
  const clock = overrides.clock ?? systemClock
  const metrics = new Metrics()
  // Read before anything starts, so a misspelt rule or a bad value set file stops start-up with
  // nothing left running.
  const mergeRules = mergeRulesFrom(config.MERGE_RULES)
  const valueSet = NeurologyValueSet.fromFile(config.NEUROLOGY_VALUE_SET_FILE)
  logger.info('Merge rules in effect', { ...mergeRules })

  if (await ensureDatabaseExists(config.DATABASE_URL)) logger.info('Database created')
  const pool = createPool(config.DATABASE_URL, config.DATABASE_SCHEMA, config.DATABASE_POOL_SIZE)
  pool.on('error', (error) => {
    logger.error('Idle database connection failed', { error: error.message })
  })
  await migrate(pool, config.DATABASE_SCHEMA, logger)
  const db = createDb(pool)
  const queue = new PgBossQueue(config.DATABASE_URL, config.QUEUE_SCHEMA, logger)
  await queue.start()

  const fhir = new FhirClient({
    baseUrl: config.FHIR_BASE_URL,
    timeoutMs: config.FHIR_TIMEOUT_MS,
    sourceUri: config.FHIR_SOURCE_URI,
    fetch: overrides.fetch,
  })
  const patients = new PatientRepository()
  const conditions = new ConditionRepository()
  const conflicts = new ConflictRepository()
  const notifications = new NotificationRepository()
  const audit = new AuditRepository()

  const patientService = new PatientService({
    db,
    patients,
    conditions,
    audit,
    queue,
    clock,
    writable: pushesToFhir(config.syncModes.Patient),
    registryIdentifierSystem: config.REGISTRY_IDENTIFIER_SYSTEM,
    fhir,
  })
  const conditionService = new ConditionService({
    db,
    conditions,
    patients,
    audit,
    queue,
    clock,
    writable: pushesToFhir(config.syncModes.Condition),
    valueSet,
    fhir,
  })
  const conflictService = new ConflictService({
    db,
    conflicts,
    patients,
    conditions,
    audit,
    queue,
    clock,
    valueSet,
    registryIdentifierSystem: config.REGISTRY_IDENTIFIER_SYSTEM,
  })
  const merge = new InboundMerge({
    db,
    patients,
    conditions,
    conflicts,
    queue,
    fhir,
    valueSet,
    clock,
    logger,
    audit,
    rules: mergeRules,
    subjects: new SubjectResolver({ fhir, logger }),
    registryIdentifierSystem: config.REGISTRY_IDENTIFIER_SYSTEM,
    sourceUri: config.FHIR_SOURCE_URI,
    clockSkewMs: config.CLOCK_SKEW_MS,
  })
  const push = new OutboundPush({
    db,
    patients,
    conditions,
    conflicts,
    fhir,
    merge,
    clock,
    logger,
    syncModes: config.syncModes,
  })
  const driftRepository = new DriftRepository()
  const drift = new DriftService({
    db,
    drift: driftRepository,
    jobs: new PgBossDriftJobs(queue),
    catchUp: new DriftCatchUp({
      db,
      fhir,
      drift: driftRepository,
      notifications,
      queue,
      clock,
      resourceTypes: SYNCED_RESOURCE_TYPES.filter((type) => pullsFromFhir(config.syncModes[type])),
      pageSize: config.DRIFT_PAGE_SIZE,
      overlapSeconds: config.DRIFT_OVERLAP_SECONDS,
      pushedTypes: (['patient', 'condition'] as const).filter((type) =>
        pushesToFhir(config.syncModes[type === 'patient' ? 'Patient' : 'Condition']),
      ),
    }),
    verification: new DriftVerification({
      db,
      fhir,
      drift: driftRepository,
      notifications,
      queue,
      merge,
      audit,
      clock,
      syncModes: config.syncModes,
      pageSize: config.DRIFT_PAGE_SIZE,
    }),
    clock,
    logger,
    schedule: driftScheduleOf(config),
    retryLimit: QUEUE_SETTINGS[QUEUES.syncDrift].retryLimit,
  })
  const pushBatch = new PushBatch({
    db,
    patients,
    conditions,
    fhir,
    push,
    syncModes: config.syncModes,
    logger,
  })
  const workers = new SyncWorkers({
    db,
    queue,
    notifications,
    merge,
    push,
    fhir,
    clock,
    logger,
    concurrency: 4,
    pushConcurrency: config.PUSH_CONCURRENCY,
    pushRetryLimit: config.PUSH_RETRY_LIMIT,
    pushBatchSize: config.PUSH_BATCH_SIZE,
    batch: pushBatch,
    drift,
    metrics,
  })
  const backfill = new Backfill({
    db,
    runs: new BackfillRepository(),
    fhir,
    merge,
    push,
    clock,
    logger,
    pageSize: config.DRIFT_PAGE_SIZE,
    concurrency: 4,
  })
  const receiver = new NotificationReceiver({
    db,
    notifications,
    queue,
    secret: config.SUBSCRIPTION_SECRET,
    pulledTypes: SYNCED_RESOURCE_TYPES.filter((type) => pullsFromFhir(config.syncModes[type])),
    drift,
  })

  const subscriptionTypes = SYNCED_RESOURCE_TYPES.filter((type) =>
    usesSubscription(config.syncModes[type]),
  )
  // Known once the HTTP server listens, because the default endpoint names the port.
  let receiverEndpoint: string | null = null
  const registerSubscriptions = async () => {
    if (receiverEndpoint === null) {
      throw new AppError(
        503,
        'RECEIVER_NOT_LISTENING',
        'This process does not serve the rest-hook receiver yet; retry once it listens',
      )
    }
    try {
      await ensureSubscriptions(
        fhir,
        {
          idPrefix: config.SUBSCRIPTION_ID_PREFIX,
          endpoint: receiverEndpoint,
          secret: config.SUBSCRIPTION_SECRET,
        },
        subscriptionTypes,
        logger,
      )
      return await readSubscriptionStatuses(fhir, config.SUBSCRIPTION_ID_PREFIX)
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      throw new AppError(
        502,
        'SUBSCRIPTIONS_NOT_ACTIVE',
        `The Subscriptions could not be registered on HAPI: ${message}`,
        { cause: error },
      )
    }
  }
  const syncAdmin = new SyncAdminService({
    db,
    repository: new SyncAdminRepository(),
    queue,
    queueSchema: config.QUEUE_SCHEMA,
    syncModes: config.syncModes,
    drift,
    readSubscriptions: () => readSubscriptionStatuses(fhir, config.SUBSCRIPTION_ID_PREFIX),
    registerSubscriptions,
    clock,
    logger,
  })

  const users = new UserService({ db, users: new UserRepository(), audit, clock, logger })
  const tokens = new TokenService({
    clock,
    secret: config.AUTH_TOKEN_SECRET,
    issuer: config.AUTH_TOKEN_ISSUER,
    ttlSeconds: config.AUTH_TOKEN_TTL_SECONDS,
    external:
      config.OIDC_ISSUER && config.OIDC_AUDIENCE
        ? {
            issuer: config.OIDC_ISSUER,
            audience: config.OIDC_AUDIENCE,
            jwksUrl: config.OIDC_JWKS_URL,
            roleClaim: config.OIDC_ROLE_CLAIM,
            algorithms: config.OIDC_ALGORITHMS,
          }
        : undefined,
  })
  const auth = new AuthService({
    db,
    users: new UserRepository(),
    callers: new CallerAccessReader(pool),
    userService: users,
    tokens,
    clock,
    logger,
    limits: {
      maxFailuresPerAccount: config.LOGIN_MAX_FAILURES_PER_ACCOUNT,
      maxFailuresPerAddress: config.LOGIN_MAX_FAILURES_PER_ADDRESS,
      lockoutSeconds: config.LOGIN_LOCKOUT_SECONDS,
    },
  })

  const snapshots = new SyncSnapshotReader({
    db,
    syncAdmin: new SyncAdminRepository(),
    drift: driftRepository,
    metrics: new MetricsRepository(),
    queueSchema: config.QUEUE_SCHEMA,
    clock,
  })
  registerSyncGauges(metrics.registry, () => snapshots.read(), logger)
  const queueLag = new QueueLagReader({
    db,
    repository: new SyncAdminRepository(),
    queueSchema: config.QUEUE_SCHEMA,
    clock,
  })

  const app = createRouter()
  app.use(requestContext(logger))
  app.use(recordRequestDuration(metrics))
  app.use(async (c, next) => {
    c.set('authenticate', (authorization) => auth.authenticate(authorization, c.get('logger')))
    await next()
  })
  app.use(limitBodySize())
  app.onError(handleError)
  app.notFound(handleNotFound)
  registerAuthRoutes(app, auth, { trustProxy: config.TRUST_PROXY })
  registerUserRoutes(app, users)
  registerPatientRoutes(app, patientService)
  registerConditionRoutes(app, conditionService)
  registerValueSetRoutes(app, new ValueSetService({ neurology: valueSet }))
  registerConflictRoutes(app, conflictService)
  registerAuditRoutes(app, new AuditService({ db, audit }))
  registerReceiverRoutes(app, receiver)
  registerSyncAdminRoutes(app, syncAdmin)
  registerDriftRoutes(app, drift)
  registerHealthRoutes(app, {
    db,
    fhir,
    queueLag,
    maxQueueLagSeconds: config.READINESS_MAX_QUEUE_LAG_SECONDS,
  })
  registerMetricsRoutes(app, metrics, { scrapeToken: config.METRICS_TOKEN })
  registerConsoleRoutes(app, config.CONSOLE_DIR)
  app.openAPIRegistry.registerComponent('securitySchemes', BEARER_SCHEME, {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      'An access token from POST /auth/token, or from the external OpenID issuer when one is configured',
  })
  app.openAPIRegistry.registerComponent('securitySchemes', SUBSCRIPTION_SECRET_SCHEME, {
    type: 'http',
    scheme: 'bearer',
    description: 'The shared SUBSCRIPTION_SECRET that HAPI sends with every rest-hook delivery',
  })
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Brain Registry API',
      version: '0.1.0',
      description: 'Neurology registry kept in two-way sync with a HAPI FHIR R4 server.',
    },
  })
  app.get(
    '/docs',
    Scalar({
      url: '/openapi.json',
      pageTitle: 'Brain Registry API',
      // A pinned release, so that a new release on the CDN cannot change what runs on this origin.
      cdn: `https://cdn.jsdelivr.net/npm/@scalar/api-reference@${SCALAR_VERSION}`,
    }),
  )

  let server: ServerType | undefined
  let metricsServer: MetricsServer | undefined

  const createFirstAdmin = async () => {
    const username = config.BOOTSTRAP_ADMIN_USERNAME
    const password = config.BOOTSTRAP_ADMIN_PASSWORD
    if (username === undefined || password === undefined) {
      if ((await users.list(1)).items.length === 0) {
        logger.warn(
          'The registry has no user; set BOOTSTRAP_ADMIN_USERNAME and BOOTSTRAP_ADMIN_PASSWORD, or run npm run user:create',
        )
      }
      return
    }
    const admin = await users.createFirstAdmin(username, password)
    if (admin) logger.info('First admin created', { userId: admin.id })
    else logger.info('BOOTSTRAP_ADMIN_USERNAME ignored: the registry has users already')
  }

  return {
    config,
    app,
    db,
    pool,
    queue,
    fhir,
    logger,
    backfill,
    push,
    pushBatch,
    users,
    tokens,

    async start() {
      if (config.PROCESS_ROLE !== 'api') await workers.start()
      if (config.METRICS_PORT !== undefined) {
        metricsServer = await startMetricsServer(
          { api: app, logger },
          config.HOST,
          config.METRICS_PORT,
        )
      }
      if (config.PROCESS_ROLE === 'worker') return { url: '' }

      const port = await new Promise<number>((resolve) => {
        server = serve({ fetch: app.fetch, hostname: config.HOST, port: config.PORT }, (info) => {
          resolve(info.port)
        })
      })
      const url = `http://${config.HOST}:${port}`
      logger.info('API listening', {
        url,
        console: `${url}${CONSOLE_PATH}/`,
        docs: `${url}/docs`,
        role: config.PROCESS_ROLE,
      })
      if (!existsSync(join(config.CONSOLE_DIR, 'index.html'))) {
        logger.warn('The web console is not built; run npm run build to serve it', {
          directory: config.CONSOLE_DIR,
        })
      }
      if (config.authTokenSecretGenerated) {
        logger.warn(
          'AUTH_TOKEN_SECRET is not set; tokens are signed with a random key that only this process knows',
        )
      }
      await createFirstAdmin()
      if (config.subscriptionSecretGenerated) {
        logger.warn(
          'SUBSCRIPTION_SECRET is not set; using a random one that only this process knows',
        )
      }

      receiverEndpoint = `${config.PUBLIC_BASE_URL ?? `http://127.0.0.1:${port}`}${RECEIVER_PATH}`
      logger.info('Sync modes in effect', { ...config.syncModes })
      if (config.REGISTER_SUBSCRIPTIONS) await registerSubscriptions()
      return { url }
    },

    async stop() {
      if (server) {
        const closing = server
        await new Promise<void>((resolve) => {
          closing.close(() => {
            resolve()
          })
        })
      }
      await metricsServer?.close()
      drift.stopWorker()
      await queue.stop()
      await db.destroy()
      logger.info('Registry stopped')
    },
  }
}
