import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import {
  SYNC_DIRECTIONS,
  SYNC_TRIGGERS,
  parsePerTypeSetting,
  type SyncModes,
} from './sync-modes.ts'

const booleanFromEnv = z
  .enum(['true', 'false', '1', '0'])
  .transform((value) => value === 'true' || value === '1')

const configSchema = z.object({
  /** Interface the HTTP server binds to. */
  HOST: z.string().default('127.0.0.1'),
  /** Port of the registry API and of the FHIR rest-hook receiver. */
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /**
   * Base URL at which HAPI reaches this registry; the rest-hook endpoint is `<url>/fhir-hook`.
   * Defaults to http://127.0.0.1 and the port the server listens on.
   */
  PUBLIC_BASE_URL: z.url().optional(),
  /** Registry database. The registry and pg-boss schemas live in it. */
  DATABASE_URL: z.url().default('postgres://postgres@127.0.0.1:5432/brain_registry'),
  /** Postgres schema of the registry tables. */
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/)
    .default('registry'),
  /** Postgres schema that pg-boss keeps its jobs in. */
  QUEUE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/)
    .default('pgboss'),
  /** Connections in the registry's pool. */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(10),
  /** FHIR base URL of the HAPI server. */
  FHIR_BASE_URL: z.url().default('http://127.0.0.1:8080/fhir'),
  /** Timeout of one request to HAPI, in milliseconds. */
  FHIR_TIMEOUT_MS: z.coerce.number().int().min(100).default(15_000),
  /** Shared secret that HAPI sends to the rest-hook receiver in the Authorization header. */
  SUBSCRIPTION_SECRET: z.string().min(16).optional(),
  /** Prefix of the ids of the Subscriptions this registry owns on HAPI. */
  SUBSCRIPTION_ID_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,40}$/)
    .default('brain-registry'),
  /** Identifier system of the registry's own patient identifier. */
  REGISTRY_IDENTIFIER_SYSTEM: z
    .url()
    .default('https://brain-registry.example.org/fhir/sid/patient'),
  /** `meta.source` stamped on every write to HAPI; notifications carrying it are echoes. */
  FHIR_SOURCE_URI: z.url().default('https://brain-registry.example.org/fhir/source/registry'),
  /** Changes on both sides within this many milliseconds count as concurrent. */
  CLOCK_SKEW_MS: z.coerce.number().int().min(0).default(2_000),
  /**
   * Overrides of the merge rule of single fields, as `entity.field=rule` separated by commas, such
   * as `patient.gender=manual,condition.onset=fhir`. Rules: lww, registry, fhir, manual. The
   * registry checks field and rule names at start and refuses to start on a bad entry.
   */
  MERGE_RULES: z.string().optional(),
  /**
   * Path of the JSON file with the neurological value set, shaped like the bundled
   * `src/reference/neurology-value-set.json`, which is the default. A relative path is resolved
   * against the working directory. The registry stops at start when the file cannot be loaded.
   */
  NEUROLOGY_VALUE_SET_FILE: z.string().optional(),
  /**
   * Direction of sync per resource type, as `Type=direction` separated by commas, such as
   * `Condition=to-fhir`. Directions: two-way (the default), to-fhir, from-fhir.
   */
  SYNC_DIRECTION: z.string().optional(),
  /**
   * Source of FHIR changes per resource type, as `Type=trigger` separated by commas:
   * subscription (the default: rest-hook Subscriptions, with the drift catch-up behind them) or
   * polling (the drift catch-up alone, every POLLING_INTERVAL_SECONDS).
   */
  SYNC_TRIGGER: z.string().optional(),
  /** Attempts of one push before its row is marked failed and its job goes to the dead letters. */
  PUSH_RETRY_LIMIT: z.coerce.number().int().min(1).max(50).default(8),
  /**
   * Push jobs a worker takes at once and writes as one FHIR transaction Bundle; 1 turns it off.
   * At most 100, because the batch's current versions are read with one `_id` search whose URL
   * must stay within HAPI's 8 KiB request header limit.
   */
  PUSH_BATCH_SIZE: z.coerce.number().int().min(1).max(100).default(20),
  /** Push batches a worker process runs at once, each with one request to HAPI in flight. */
  PUSH_CONCURRENCY: z.coerce.number().int().min(1).max(32).default(4),
  /** Seconds between drift catch-up runs, which read HAPI's history since the saved cursor. */
  DRIFT_CATCHUP_INTERVAL_SECONDS: z.coerce.number().int().min(1).default(300),
  /** Seconds between catch-up runs while a resource type is polling-only. */
  POLLING_INTERVAL_SECONDS: z.coerce.number().int().min(1).default(10),
  /**
   * Seconds the catch-up reads back before its cursor, for HAPI writes that commit after later
   * ones and for clock differences between HAPI's nodes.
   */
  DRIFT_OVERLAP_SECONDS: z.coerce.number().int().min(0).default(60),
  /** Seconds between verification runs, which compare every synced entity with HAPI; 0 turns the schedule off. */
  DRIFT_VERIFY_INTERVAL_SECONDS: z.coerce.number().int().min(0).default(21_600),
  /** Entities or history entries read from HAPI per page by drift runs and the backfill. */
  DRIFT_PAGE_SIZE: z.coerce.number().int().min(1).max(1000).default(100),
  /**
   * Static bearer token that `GET /metrics` accepts besides an admin's access token, for a
   * Prometheus scraper; at least 32 characters. When unset, only admin tokens are accepted.
   */
  METRICS_TOKEN: z.string().min(32).optional(),
  /**
   * Port of a second HTTP server that serves only `/metrics` and `/health/live`, with the same
   * access rules. A worker process (PROCESS_ROLE=worker) has no other server, so its push and
   * merge metrics can be scraped only there. When unset, no such server starts.
   */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /**
   * Seconds the oldest ready push or merge job may wait before `GET /health/ready` reports the
   * registry not ready (503).
   */
  READINESS_MAX_QUEUE_LAG_SECONDS: z.coerce.number().int().min(1).default(300),
  /** Parts this process runs: `api`, `worker`, or both (`all`). */
  PROCESS_ROLE: z.enum(['all', 'api', 'worker']).default('all'),
  /** Register the Subscriptions on HAPI at start. */
  REGISTER_SUBSCRIPTIONS: booleanFromEnv.default(true),
  /**
   * Key that signs and checks the registry's own access tokens (HS256), at least 32 characters.
   * Every API process must share it; without it each process makes up its own and the tokens of
   * one are rejected by the others.
   */
  AUTH_TOKEN_SECRET: z.string().min(32).optional(),
  /** `iss` and `aud` of the registry's own access tokens. */
  AUTH_TOKEN_ISSUER: z.string().min(1).default('urn:brain-registry'),
  /** Lifetime of an access token from `POST /auth/token`, in seconds. */
  AUTH_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(900),
  /**
   * Issuer of an external OpenID provider whose access tokens the API accepts as well, such as
   * `https://login.example.org/realms/hospital`. Its tokens must name it in `iss` exactly.
   */
  OIDC_ISSUER: z.url().optional(),
  /** `aud` that tokens of OIDC_ISSUER must carry; required with OIDC_ISSUER. */
  OIDC_AUDIENCE: z.string().min(1).optional(),
  /**
   * JWKS URL of OIDC_ISSUER. Without it the registry reads `jwks_uri` from the issuer's
   * `/.well-known/openid-configuration` at the first token it checks.
   */
  OIDC_JWKS_URL: z.url().optional(),
  /**
   * Claim of an OIDC token that contains the caller's roles: a string or a list of strings, with a
   * dotted path for nested claims such as `realm_access.roles`. Values that are not registry
   * roles are ignored.
   */
  OIDC_ROLE_CLAIM: z
    .string()
    .regex(/^[A-Za-z0-9_:.-]+$/)
    .default('roles'),
  /** Signature algorithms accepted for OIDC tokens, separated by commas. */
  OIDC_ALGORITHMS: z
    .string()
    .default('RS256,ES256')
    .transform((value) => value.split(',').map((item) => item.trim()))
    .pipe(
      z
        .array(
          z.enum([
            'RS256',
            'RS384',
            'RS512',
            'PS256',
            'PS384',
            'PS512',
            'ES256',
            'ES384',
            'ES512',
            'EdDSA',
          ]),
        )
        .min(1),
    ),
  /**
   * Username and password of the first admin, created at start when the registry has no user.
   * Both or neither; the password needs at least 12 characters. Later starts ignore them.
   */
  BOOTSTRAP_ADMIN_USERNAME: z
    .string()
    .regex(/^[A-Za-z0-9._@-]{3,64}$/)
    .optional(),
  BOOTSTRAP_ADMIN_PASSWORD: z.string().min(12).max(256).optional(),
  /** Failed sign-ins of one account before it is locked for LOGIN_LOCKOUT_SECONDS. */
  LOGIN_MAX_FAILURES_PER_ACCOUNT: z.coerce.number().int().min(1).default(5),
  /** Failed sign-ins from one address before it is locked for LOGIN_LOCKOUT_SECONDS. */
  LOGIN_MAX_FAILURES_PER_ADDRESS: z.coerce.number().int().min(1).default(20),
  /** Seconds a locked account or address waits, and the window in which failures count. */
  LOGIN_LOCKOUT_SECONDS: z.coerce.number().int().min(1).default(900),
  /**
   * Take the caller's address from the first entry of X-Forwarded-For, for a registry behind a
   * reverse proxy. Off by default, because a client could otherwise pick its own address.
   */
  TRUST_PROXY: booleanFromEnv.default(false),
  /**
   * Folder of the built web console (`npm run build`), served under /console. A relative path is
   * resolved against the working directory.
   */
  CONSOLE_DIR: z.string().default(fileURLToPath(new URL('../../console/dist', import.meta.url))),
  /** winston log level. */
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
})

export type Config = Readonly<
  Omit<z.infer<typeof configSchema>, 'SUBSCRIPTION_SECRET' | 'AUTH_TOKEN_SECRET'> & {
    SUBSCRIPTION_SECRET: string
    /** True when no secret was configured and this process made one up. */
    subscriptionSecretGenerated: boolean
    AUTH_TOKEN_SECRET: string
    /** True when no token key was configured and this process made one up. */
    authTokenSecretGenerated: boolean
    /** Direction and trigger per synced resource type, from SYNC_DIRECTION and SYNC_TRIGGER. */
    syncModes: SyncModes
  }
>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/**
 * Parses the environment once, reports every invalid variable together and returns a frozen
 * config. Values in `overrides` win over the environment; tests use them.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Record<string, string | undefined> = {},
): Config {
  const source: Record<string, string> = {}
  for (const [key, value] of Object.entries({ ...env, ...overrides })) {
    if (value !== undefined && value.trim() !== '') source[key] = value.trim()
  }

  const result = configSchema.safeParse(source)
  const problems = result.success
    ? []
    : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)
  const directions = parsePerTypeSetting(source.SYNC_DIRECTION, SYNC_DIRECTIONS, 'two-way')
  const triggers = parsePerTypeSetting(source.SYNC_TRIGGER, SYNC_TRIGGERS, 'subscription')
  problems.push(...directions.problems.map((problem) => `SYNC_DIRECTION: ${problem}`))
  problems.push(...triggers.problems.map((problem) => `SYNC_TRIGGER: ${problem}`))
  if ((source.OIDC_ISSUER === undefined) !== (source.OIDC_AUDIENCE === undefined)) {
    problems.push('OIDC_AUDIENCE: set OIDC_ISSUER and OIDC_AUDIENCE together')
  }
  if (
    (source.BOOTSTRAP_ADMIN_USERNAME === undefined) !==
    (source.BOOTSTRAP_ADMIN_PASSWORD === undefined)
  ) {
    problems.push(
      'BOOTSTRAP_ADMIN_PASSWORD: set BOOTSTRAP_ADMIN_USERNAME and its password together',
    )
  }
  if (!result.success || problems.length > 0) {
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`)
  }

  const parsed = result.data
  const syncModes = Object.freeze({
    Patient: Object.freeze({
      direction: directions.values.Patient,
      trigger: triggers.values.Patient,
    }),
    Condition: Object.freeze({
      direction: directions.values.Condition,
      trigger: triggers.values.Condition,
    }),
  })
  const secret = parsed.SUBSCRIPTION_SECRET
  const tokenSecret = parsed.AUTH_TOKEN_SECRET
  return Object.freeze({
    ...parsed,
    SUBSCRIPTION_SECRET: secret ?? crypto.randomUUID() + crypto.randomUUID(),
    subscriptionSecretGenerated: secret === undefined,
    AUTH_TOKEN_SECRET: tokenSecret ?? randomBytes(32).toString('base64url'),
    authTokenSecretGenerated: tokenSecret === undefined,
    syncModes,
  })
}
