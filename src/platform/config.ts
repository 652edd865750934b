import { z } from 'zod'

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
  /** Parts this process runs: `api`, `worker`, or both (`all`). */
  PROCESS_ROLE: z.enum(['all', 'api', 'worker']).default('all'),
  /** Register the Subscriptions on HAPI at start. */
  REGISTER_SUBSCRIPTIONS: booleanFromEnv.default(true),
  /** winston log level. */
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
})

export type Config = Readonly<
  Omit<z.infer<typeof configSchema>, 'SUBSCRIPTION_SECRET'> & {
    SUBSCRIPTION_SECRET: string
    /** True when no secret was configured and this process made one up. */
    subscriptionSecretGenerated: boolean
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
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`)
  }

  const parsed = result.data
  const secret = parsed.SUBSCRIPTION_SECRET
  return Object.freeze({
    ...parsed,
    SUBSCRIPTION_SECRET: secret ?? crypto.randomUUID() + crypto.randomUUID(),
    subscriptionSecretGenerated: secret === undefined,
  })
}
