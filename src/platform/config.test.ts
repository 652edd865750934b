import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from './config.ts'

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error('Configuration loaded, but a ConfigError was expected')
}

/** Extracts the variable names a ConfigError lists, one per `NAME: problem` line. */
function invalidVariables(error: ConfigError): string[] {
  return error.message
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(':')[0] ?? '')
    .sort()
}

const SECRET = 'a-secret-of-at-least-16-chars'

describe('loadConfig', () => {
  it.each([
    ['HOST', '127.0.0.1'],
    ['PORT', 3000],
    ['PUBLIC_BASE_URL', undefined],
    ['DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/brain_registry'],
    ['DATABASE_SCHEMA', 'registry'],
    ['QUEUE_SCHEMA', 'pgboss'],
    ['DATABASE_POOL_SIZE', 10],
    ['FHIR_BASE_URL', 'http://127.0.0.1:8080/fhir'],
    ['FHIR_TIMEOUT_MS', 15_000],
    ['SUBSCRIPTION_ID_PREFIX', 'brain-registry'],
    ['REGISTRY_IDENTIFIER_SYSTEM', 'https://brain-registry.example.org/fhir/sid/patient'],
    ['FHIR_SOURCE_URI', 'https://brain-registry.example.org/fhir/source/registry'],
    ['CLOCK_SKEW_MS', 2_000],
    ['PROCESS_ROLE', 'all'],
    ['REGISTER_SUBSCRIPTIONS', true],
    ['LOG_LEVEL', 'info'],
    ['PUSH_RETRY_LIMIT', 8],
    ['PUSH_BATCH_SIZE', 20],
    ['DRIFT_CATCHUP_INTERVAL_SECONDS', 300],
    ['POLLING_INTERVAL_SECONDS', 10],
    ['DRIFT_OVERLAP_SECONDS', 60],
    ['DRIFT_VERIFY_INTERVAL_SECONDS', 21_600],
    ['DRIFT_PAGE_SIZE', 100],
  ] as const)('defaults %s to %s', (name, value) => {
    expect(loadConfig({})[name]).toBe(value)
  })

  it('reads set variables', () => {
    const config = loadConfig({
      PORT: '8081',
      FHIR_BASE_URL: 'http://hapi.test/fhir',
      PROCESS_ROLE: 'worker',
      CLOCK_SKEW_MS: '0',
    })

    expect(config.PORT).toBe(8081)
    expect(config.FHIR_BASE_URL).toBe('http://hapi.test/fhir')
    expect(config.PROCESS_ROLE).toBe('worker')
    expect(config.CLOCK_SKEW_MS).toBe(0)
  })

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ PORT: '' }).PORT).toBe(3000)
  })

  it('treats a blank variable as unset', () => {
    expect(loadConfig({ PORT: ' ' }).PORT).toBe(3000)
  })

  it('trims values', () => {
    expect(loadConfig({ LOG_LEVEL: ' debug ' }).LOG_LEVEL).toBe('debug')
  })

  it('lets overrides win over the environment', () => {
    expect(loadConfig({ PORT: '4000' }, { PORT: '5000' }).PORT).toBe(5000)
  })

  it('lets an empty override restore the default', () => {
    expect(loadConfig({ PORT: '4000' }, { PORT: '' }).PORT).toBe(3000)
  })

  it('ignores unknown variables', () => {
    expect(loadConfig({ PATH: '/usr/bin' })).not.toHaveProperty('PATH')
  })

  it('returns a frozen object', () => {
    expect(Object.isFrozen(loadConfig({}))).toBe(true)
  })

  it.each([
    ['PORT', 'http'],
    ['PORT', '65536'],
    ['PORT', '80.5'],
    ['PUBLIC_BASE_URL', 'not a url'],
    ['DATABASE_URL', 'localhost'],
    ['DATABASE_SCHEMA', 'Registry'],
    ['QUEUE_SCHEMA', 'pg-boss'],
    ['DATABASE_POOL_SIZE', '1'],
    ['DATABASE_POOL_SIZE', '201'],
    ['FHIR_TIMEOUT_MS', '99'],
    ['SUBSCRIPTION_SECRET', 'too-short'],
    ['SUBSCRIPTION_ID_PREFIX', 'brain_registry'],
    ['CLOCK_SKEW_MS', '-1'],
    ['PROCESS_ROLE', 'scheduler'],
    ['REGISTER_SUBSCRIPTIONS', 'yes'],
    ['LOG_LEVEL', 'verbose'],
    ['PUSH_RETRY_LIMIT', '0'],
    ['PUSH_BATCH_SIZE', '101'],
    ['DRIFT_PAGE_SIZE', '0'],
    ['SYNC_DIRECTION', 'Patient=both'],
    ['SYNC_DIRECTION', 'Observation=to-fhir'],
    ['SYNC_DIRECTION', 'Patient'],
    ['SYNC_DIRECTION', 'Patient=to-fhir,Patient=from-fhir'],
    ['SYNC_TRIGGER', 'Condition=poll'],
  ])('rejects %s=%s', (name, value) => {
    const error = configError({ [name]: value })

    expect(invalidVariables(error)).toEqual([name])
  })

  it('reports every invalid variable in one error', () => {
    const error = configError({
      PORT: 'http',
      FHIR_BASE_URL: 'hapi',
      LOG_LEVEL: 'verbose',
      REGISTER_SUBSCRIPTIONS: 'yes',
      HOST: '0.0.0.0',
    })

    expect(error.name).toBe('ConfigError')
    expect(invalidVariables(error)).toEqual([
      'FHIR_BASE_URL',
      'LOG_LEVEL',
      'PORT',
      'REGISTER_SUBSCRIPTIONS',
    ])
  })

  it.each([
    ['true', true],
    ['1', true],
    ['false', false],
    ['0', false],
  ])('reads REGISTER_SUBSCRIPTIONS=%s as %s', (value, expected) => {
    expect(loadConfig({ REGISTER_SUBSCRIPTIONS: value }).REGISTER_SUBSCRIPTIONS).toBe(expected)
  })

  it('generates a secret when none is set', () => {
    const config = loadConfig({})

    expect(config.subscriptionSecretGenerated).toBe(true)
    expect(config.SUBSCRIPTION_SECRET.length).toBeGreaterThanOrEqual(16)
  })

  it('generates a different secret each time', () => {
    expect(loadConfig({}).SUBSCRIPTION_SECRET).not.toBe(loadConfig({}).SUBSCRIPTION_SECRET)
  })

  it('keeps a configured secret', () => {
    const config = loadConfig({ SUBSCRIPTION_SECRET: SECRET })

    expect(config.SUBSCRIPTION_SECRET).toBe(SECRET)
    expect(config.subscriptionSecretGenerated).toBe(false)
  })

  it('defaults every resource type to two-way sync driven by Subscriptions', () => {
    expect(loadConfig({}).syncModes).toEqual({
      Patient: { direction: 'two-way', trigger: 'subscription' },
      Condition: { direction: 'two-way', trigger: 'subscription' },
    })
  })

  it('reads sync modes per resource type', () => {
    const config = loadConfig({
      SYNC_DIRECTION: 'Condition=to-fhir, Patient=from-fhir',
      SYNC_TRIGGER: 'Patient=polling',
    })

    expect(config.syncModes.Patient).toEqual({ direction: 'from-fhir', trigger: 'polling' })
    expect(config.syncModes.Condition).toEqual({ direction: 'to-fhir', trigger: 'subscription' })
  })
})
