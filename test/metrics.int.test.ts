import { createServer, type AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Patient } from '../src/patients/patient.schemas.ts'
import { startTestRegistry, waitFor, type TestRegistry } from './harness.ts'

const METRICS_TOKEN = 'metrics-scrape-token-of-the-integration-test'

interface Readiness {
  status: string
  checks: Record<
    'database' | 'fhir' | 'queueLag',
    {
      status: string
      error?: string
      oldestReadyAgeSeconds?: number | null
      maxAgeSeconds?: number
    }
  >
}

/** Returns the value of the sample `name{labels}`, or undefined when the output lacks it. */
function sampleValue(text: string, name: string, labels = ''): number | undefined {
  const prefix = labels === '' ? `${name} ` : `${name}{${labels}} `
  const line = text.split('\n').find((candidate) => candidate.startsWith(prefix))
  return line === undefined ? undefined : Number(line.slice(prefix.length))
}

async function createPatient(t: TestRegistry, family: string): Promise<Patient> {
  const response = await t.api('POST', '/patients', {
    names: [{ family, given: ['Mira'] }],
    birthDate: '1971-09',
  })
  expect(response.status).toBe(201)
  return (await response.json()) as Patient
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve()
    }),
  )
  return port
}

describe('GET /metrics', () => {
  let t: TestRegistry

  beforeAll(async () => {
    t = await startTestRegistry('metrics', { METRICS_TOKEN })
  })

  afterAll(async () => {
    await t.stop()
  })

  const scrape = async (authorization = `Bearer ${METRICS_TOKEN}`) => {
    const response = await t.api('GET', '/metrics', undefined, { Authorization: authorization })
    return {
      status: response.status,
      type: response.headers.get('content-type'),
      text: await response.text(),
    }
  }

  it('reports the push of a new patient', async () => {
    await createPatient(t, 'Scraped')

    const text = await waitFor('the push in the push histogram', async () => {
      const scraped = await scrape()
      const count = sampleValue(
        scraped.text,
        'brain_registry_fhir_push_duration_seconds_count',
        'entity_type="patient",outcome="pushed"',
      )
      return count !== undefined && count >= 1 ? scraped.text : undefined
    })

    expect(
      sampleValue(
        text,
        'brain_registry_fhir_push_duration_seconds_sum',
        'entity_type="patient",outcome="pushed"',
      ),
    ).toBeGreaterThan(0)
    expect(
      sampleValue(
        text,
        'http_request_duration_seconds_count',
        'method="POST",route="/patients",status="201"',
      ),
    ).toBeGreaterThanOrEqual(1)
  })

  it('serves the text format to the scrape token', async () => {
    const scraped = await scrape()

    expect(scraped.status).toBe(200)
    expect(scraped.type).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(sampleValue(scraped.text, 'brain_registry_sync_metrics_up')).toBe(1)
    expect(sampleValue(scraped.text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0)
  })

  it('reports each queue by state', async () => {
    const { text } = await scrape()

    for (const queue of ['fhir-push', 'fhir-merge', 'sync-drift']) {
      for (const state of ['ready', 'deferred', 'active']) {
        expect(
          sampleValue(text, 'brain_registry_queue_jobs', `queue="${queue}",state="${state}"`),
          `${queue} ${state}`,
        ).toBeGreaterThanOrEqual(0)
      }
      expect(
        sampleValue(text, 'brain_registry_queue_oldest_ready_job_age_seconds', `queue="${queue}"`),
      ).toBeGreaterThanOrEqual(0)
    }
    for (const queue of ['fhir-push-dead', 'fhir-merge-dead', 'sync-drift-dead']) {
      expect(sampleValue(text, 'brain_registry_dead_letter_jobs', `queue="${queue}"`)).toBe(0)
    }
  })

  it('reports conflicts, failed rows and lag', async () => {
    const { text } = await scrape()

    expect(sampleValue(text, 'brain_registry_open_conflicts', 'entity_type="patient"')).toBe(0)
    expect(sampleValue(text, 'brain_registry_open_conflicts', 'entity_type="condition"')).toBe(0)
    expect(
      sampleValue(text, 'brain_registry_sync_rows', 'entity_type="patient",sync_state="failed"'),
    ).toBe(0)
    expect(
      sampleValue(text, 'brain_registry_oldest_pending_row_age_seconds', 'entity_type="patient"'),
    ).toBeGreaterThanOrEqual(0)
    expect(
      sampleValue(text, 'brain_registry_oldest_unprocessed_notification_age_seconds'),
    ).toBeGreaterThanOrEqual(0)
  })

  it('accepts an admin token', async () => {
    expect((await t.api('GET', '/metrics')).status).toBe(200)
  })

  it('rejects a wrong scrape token with 401', async () => {
    const response = await t.api('GET', '/metrics', undefined, {
      Authorization: `Bearer ${METRICS_TOKEN}-wrong`,
    })

    expect(response.status).toBe(401)
  })

  it('rejects a clinician with 403', async () => {
    const clinician = await t.authorizationFor(['clinician'])

    const response = await t.api('GET', '/metrics', undefined, { Authorization: clinician })

    expect(response.status).toBe(403)
  })

  it('reports the queue lag in readiness', async () => {
    const response = await t.api('GET', '/health/ready', undefined, { Authorization: '' })
    const readiness = (await response.json()) as Readiness

    expect(response.status).toBe(200)
    expect(readiness.checks.queueLag.status).toBe('up')
    expect(readiness.checks.queueLag.maxAgeSeconds).toBe(300)
  })
})

describe('readiness without workers', () => {
  let t: TestRegistry

  beforeAll(async () => {
    // An API-only process runs no workers, so the push job of a new patient waits for good.
    t = await startTestRegistry('metrics_lag', {
      PROCESS_ROLE: 'api',
      REGISTER_SUBSCRIPTIONS: 'false',
      READINESS_MAX_QUEUE_LAG_SECONDS: '1',
      METRICS_TOKEN,
    })
  })

  afterAll(async () => {
    await t.stop()
  })

  it('is not ready once a push waits over the threshold', async () => {
    await createPatient(t, 'Waiting')

    const readiness = await waitFor('readiness to report the queue lag', async () => {
      const response = await t.api('GET', '/health/ready', undefined, { Authorization: '' })
      return response.status === 503 ? ((await response.json()) as Readiness) : undefined
    })

    expect(readiness.status).toBe('not-ready')
    expect(readiness.checks.database.status).toBe('up')
    expect(readiness.checks.fhir.status).toBe('up')
    expect(readiness.checks.queueLag.status).toBe('down')
    expect(readiness.checks.queueLag.oldestReadyAgeSeconds).toBeGreaterThan(1)
    expect(readiness.checks.queueLag.maxAgeSeconds).toBe(1)
    expect(readiness.checks.queueLag.error).toContain('fhir-push')
  })

  it('shows the waiting job in the metrics', async () => {
    const response = await t.api('GET', '/metrics', undefined, {
      Authorization: `Bearer ${METRICS_TOKEN}`,
    })
    const text = await response.text()

    expect(sampleValue(text, 'brain_registry_queue_jobs', 'queue="fhir-push",state="ready"')).toBe(
      1,
    )
    expect(
      sampleValue(text, 'brain_registry_queue_oldest_ready_job_age_seconds', 'queue="fhir-push"'),
    ).toBeGreaterThan(1)
    expect(
      sampleValue(text, 'brain_registry_sync_rows', 'entity_type="patient",sync_state="pending"'),
    ).toBe(1)
    expect(
      sampleValue(text, 'brain_registry_oldest_pending_row_age_seconds', 'entity_type="patient"'),
    ).toBeGreaterThan(1)
  })
})

describe('metrics port of a worker process', () => {
  let t: TestRegistry
  let metricsUrl: string

  beforeAll(async () => {
    const port = await freePort()
    metricsUrl = `http://127.0.0.1:${String(port)}`
    t = await startTestRegistry('metrics_worker', {
      PROCESS_ROLE: 'worker',
      METRICS_PORT: String(port),
      METRICS_TOKEN,
    })
  })

  afterAll(async () => {
    await t.stop()
  })

  it('serves the metrics to the scrape token', async () => {
    const response = await fetch(`${metricsUrl}/metrics`, {
      headers: { Authorization: `Bearer ${METRICS_TOKEN}` },
    })
    const text = await response.text()

    expect(response.status).toBe(200)
    expect(text).toContain('# TYPE brain_registry_fhir_push_duration_seconds histogram')
    expect(sampleValue(text, 'brain_registry_queue_jobs', 'queue="fhir-push",state="ready"')).toBe(
      0,
    )
  })

  it('accepts an admin token', async () => {
    const admin = await t.authorizationFor(['admin'])

    const response = await fetch(`${metricsUrl}/metrics`, { headers: { Authorization: admin } })

    expect(response.status).toBe(200)
  })

  it('rejects a wrong token with 401', async () => {
    const response = await fetch(`${metricsUrl}/metrics`, {
      headers: { Authorization: 'Bearer not-the-metrics-token' },
    })

    expect(response.status).toBe(401)
  })

  it('serves liveness and nothing else', async () => {
    const live = await fetch(`${metricsUrl}/health/live`)
    const patients = await fetch(`${metricsUrl}/patients`)

    expect(live.status).toBe(200)
    expect(patients.status).toBe(404)
  })
})
