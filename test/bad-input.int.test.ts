import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROLES } from '../src/auth/access.ts'
import type { Condition } from '../src/conditions/condition.schemas.ts'
import { ConflictRepository } from '../src/conflicts/conflict.repository.ts'
import type { Patient } from '../src/patients/patient.schemas.ts'
import { PROBLEM_TYPE_BASE } from '../src/platform/http.ts'
import { ERROR_CODE_SYSTEM, REQUEST_ID_EXTENSION } from '../src/platform/operation-outcome.ts'
import {
  EPILEPSY,
  INJECTIONS,
  SECRET,
  buildBadRequests,
  type Auth,
  type BadRequest,
} from './bad-input-cases.ts'
import { startTestRegistry, type TestRegistry } from './harness.ts'

// Sends hundreds of malformed requests to the write and list routes and the rest-hook receiver.
// Each must get a 4xx in the one error format, leak nothing of the server's insides and change
// nothing in the database. The registry runs as PROCESS_ROLE=api without Subscriptions, so no
// worker, schedule or HAPI delivery changes the database while the requests run.

/** Shapes of a stack trace, SQL text or server path that must never reach a client. */
const LEAKS = [
  /\n\s+at /,
  /\bat [\w.<>$]+ \(/,
  /\/work\//,
  /node_modules/,
  /\.[cm]?[jt]s:\d+/,
  /\bselect\b[\s\S]*\bfrom\b/i,
  /\binsert into\b/i,
  /\bdelete from\b/i,
  /\bupdate\s+\w+\s+set\b/i,
  /relation "/,
  /violates [\w ]*constraint/,
  /syntax error at or near/,
  /SQLSTATE/,
]

interface Problem {
  type: string
  title: string
  status: number
  detail: string
  instance: string
  code: string
  requestId: string
  errors?: { path: string; message: string }[]
}

interface OperationOutcome {
  resourceType: string
  extension?: { url: string; valueString: string }[]
  issue: {
    severity: string
    code: string
    details?: { coding?: { system: string; code: string }[]; text?: string }
    diagnostics?: string
  }[]
}

let t: TestRegistry
let operator: string
let patient: Patient
let condition: Condition
let conflictId: string
let driftRunId: string

beforeAll(async () => {
  t = await startTestRegistry('bad_input', {
    SUBSCRIPTION_SECRET: SECRET,
    REGISTER_SUBSCRIPTIONS: 'false',
    PROCESS_ROLE: 'api',
  })
  operator = await t.authorizationFor(ROLES)

  const created = await t.api('POST', '/patients', {
    names: [{ family: 'Baseline', given: ['Ada'] }],
    birthDate: '1980-05-17',
  })
  expect(created.status).toBe(201)
  patient = (await created.json()) as Patient
  const recorded = await t.api('POST', '/conditions', {
    patientId: patient.id,
    code: { coding: [EPILEPSY] },
    clinicalStatus: 'active',
  })
  expect(recorded.status).toBe(201)
  condition = (await recorded.json()) as Condition
  const conflict = await new ConflictRepository().record(
    t.registry.db,
    {
      entityType: 'patient',
      entityId: patient.id,
      fieldPath: 'birthDate',
      itemKey: null,
      baseValue: '1980-05-17',
      registryValue: '1980-05-17',
      fhirValue: '1980-05-18',
      registryVersion: patient.version,
      fhirVersionId: 2,
      registryUpdatedAt: new Date(),
      fhirUpdatedAt: new Date(),
      status: 'open',
      resolution: null,
    },
    new Date(),
  )
  conflictId = conflict.id
  // A finished run, so that its findings route reads the cursor instead of returning 404.
  const run = await sql<{ id: string }>`
    insert into ${sql.table(`${t.registry.config.DATABASE_SCHEMA}.drift_runs`)}
      (kind, status, requested_by, finished_at)
    values ('verification', 'finished', 'api', now())
    returning id
  `.execute(t.registry.db)
  driftRunId = run.rows[0]?.id ?? ''
})

afterAll(async () => {
  await t.stop()
})

// --- Sending and checking ------------------------------------------------------------------------

function authorizationOf(auth: Auth): string | undefined {
  switch (auth) {
    case 'operator':
      return operator
    case 'secret':
      return `Bearer ${SECRET}`
    case 'wrong-secret':
      return `Bearer ${SECRET}x`
    case 'none':
      return undefined
  }
}

async function send(request: BadRequest): Promise<Response> {
  const headers = new Headers(request.headers)
  const contentType = request.contentType === undefined ? 'application/json' : request.contentType
  if (contentType !== null) headers.set('Content-Type', contentType)
  const authorization = authorizationOf(request.auth ?? 'operator')
  if (authorization !== undefined) headers.set('Authorization', authorization)
  const body = typeof request.body === 'function' ? request.body() : request.body
  return fetch(`${t.url}${request.path}`, {
    method: request.method,
    headers,
    body,
    ...(typeof request.body === 'function' ? { duplex: 'half' } : {}),
  })
}

/** Every string in a JSON value, with the strings the request itself sent taken out. */
function serverStrings(value: unknown, request: BadRequest): string[] {
  const paths = [request.path, decodeURI(request.path), decodeURIComponent(request.path)]
  const sent = [...INJECTIONS, ...paths].sort((a, b) => b.length - a.length)
  const strings: string[] = []
  const visit = (node: unknown) => {
    if (typeof node === 'string') {
      strings.push(sent.reduce((text, part) => text.replaceAll(part, ''), node))
    } else if (Array.isArray(node)) {
      node.forEach(visit)
    } else if (typeof node === 'object' && node !== null) {
      Object.values(node).forEach(visit)
    }
  }
  visit(value)
  return strings
}

function expectNoLeak(body: unknown, request: BadRequest): void {
  for (const text of serverStrings(body, request)) {
    for (const leak of LEAKS) expect(text, `${request.name}: ${text}`).not.toMatch(leak)
  }
}

function expectProblem(response: Response, body: Problem, request: BadRequest): void {
  const label = `${request.name}: ${JSON.stringify(body).slice(0, 300)}`
  expect(response.headers.get('content-type'), label).toContain('application/problem+json')
  expect(body.type, label).toBe(PROBLEM_TYPE_BASE + request.code.toLowerCase().replaceAll('_', '-'))
  expect(body.title, label).toEqual(expect.any(String))
  expect(body.title.length, label).toBeGreaterThan(0)
  expect(body.status, label).toBe(response.status)
  expect(body.detail, label).toEqual(expect.any(String))
  expect(body.detail.length, label).toBeGreaterThan(0)
  expect(body.code, label).toBe(request.code)
  expect(body.requestId, label).toBe(response.headers.get('x-request-id'))
  if (request.code === 'VALIDATION_FAILED') {
    expect(body.errors?.length, label).toBeGreaterThan(0)
    for (const error of body.errors ?? []) expect(error.path, label).toEqual(expect.any(String))
    if (request.errorPath !== undefined) {
      expect(
        body.errors?.map((error) => error.path),
        label,
      ).toContain(request.errorPath)
    }
  }
}

function expectOperationOutcome(
  response: Response,
  body: OperationOutcome,
  request: BadRequest,
): void {
  const label = `${request.name}: ${JSON.stringify(body).slice(0, 300)}`
  const [first] = body.issue
  expect(response.headers.get('content-type'), label).toContain('application/fhir+json')
  expect(body.resourceType, label).toBe('OperationOutcome')
  expect(first?.severity, label).toBe('error')
  expect(first?.code, label).toEqual(expect.any(String))
  expect(first?.diagnostics?.length, label).toBeGreaterThan(0)
  expect(first?.details?.coding, label).toEqual([{ system: ERROR_CODE_SYSTEM, code: request.code }])
  expect(body.extension, label).toEqual([
    { url: REQUEST_ID_EXTENSION, valueString: response.headers.get('x-request-id') },
  ])
  if (request.errorPath !== undefined) {
    const diagnostics = body.issue.slice(1).map((issue) => issue.diagnostics ?? '')
    expect(
      diagnostics.some((text) => text.startsWith(`${request.errorPath}:`)),
      label,
    ).toBe(true)
  }
}

/** Sends one malformed request and checks its status, error format and that nothing leaks. */
async function checkBadRequest(request: BadRequest): Promise<void> {
  const response = await send(request)
  const text = await response.text()
  const label = `${request.name}: ${response.status} ${text.slice(0, 300)}`
  expect(response.status, label).toBe(request.status)
  expect(response.status, label).toBeGreaterThanOrEqual(400)
  expect(response.status, label).toBeLessThan(500)
  const body = JSON.parse(text) as unknown

  if (request.path.startsWith('/fhir-hook')) {
    expectOperationOutcome(response, body as OperationOutcome, request)
  } else {
    expectProblem(response, body as Problem, request)
  }
  expectNoLeak(body, request)
}

// --- Database snapshot ---------------------------------------------------------------------------

const SNAPSHOT_TABLES = [
  'patients',
  'conditions',
  'conflicts',
  'audit_log',
  'fhir_notifications',
  'drift_runs',
]

/** Row count and a hash of every row of each table, and the job count of the queue schema. */
async function snapshot(): Promise<Record<string, string>> {
  const { DATABASE_SCHEMA, QUEUE_SCHEMA } = t.registry.config
  const result: Record<string, string> = {}
  for (const table of SNAPSHOT_TABLES) {
    const { rows } = await sql<{ count: string; rows: string | null }>`
      select count(*)::text as count,
        string_agg(row_to_json(t)::text, '|' order by row_to_json(t)::text) as rows
      from ${sql.table(`${DATABASE_SCHEMA}.${table}`)} as t
    `.execute(t.registry.db)
    const row = rows[0]
    result[table] = `${row?.count ?? '?'} rows, ${createHash('sha256')
      .update(row?.rows ?? '')
      .digest('hex')}`
  }
  const { rows } = await sql<{ count: string }>`
    select count(*)::text as count from ${sql.table(`${QUEUE_SCHEMA}.job`)}
  `.execute(t.registry.db)
  result.jobs = rows[0]?.count ?? '?'
  return result
}

// --- Tests ---------------------------------------------------------------------------------------

describe('malformed requests', () => {
  it('get a 4xx in the one error format and change nothing', async () => {
    const requests = buildBadRequests({ patient, condition, conflictId, driftRunId })
    const before = await snapshot()

    // Each request's failure is collected, so one run lists every request that went wrong.
    const failures: string[] = []
    for (const request of requests) {
      try {
        await checkBadRequest(request)
      } catch (error) {
        failures.push(error instanceof Error ? error.message : String(error))
      }
    }
    const after = await snapshot()

    const routes = new Set(requests.map((request) => request.route))
    console.info(`Sent ${requests.length} malformed requests to ${routes.size} routes`)
    expect(failures).toEqual([])
    expect(requests.length).toBeGreaterThanOrEqual(500)
    expect(after).toEqual(before)
  })

  it('treats injection in free-text filters as text', async () => {
    const filters: [string, string][] = [
      ['/patients', 'name'],
      ['/patients', 'identifier'],
      ['/conditions', 'code'],
      ['/conflicts', 'field'],
    ]
    const before = await snapshot()

    for (const [path, name] of filters) {
      for (const injection of INJECTIONS) {
        const query = new URLSearchParams({ [name]: injection }).toString()
        const response = await t.api('GET', `${path}?${query}`)
        const page = (await response.json()) as { items: unknown[] }

        expect(response.status, `${path}?${query}`).toBe(200)
        expect(page.items, `${path}?${query}`).toEqual([])
      }
    }

    expect(await snapshot()).toEqual(before)
  })

  it('answers a database failure with a generic 500', async () => {
    const table = sql.table(`${t.registry.config.DATABASE_SCHEMA}.patients`)
    await sql`alter table ${table} add constraint bad_input_probe check (false) not valid`.execute(
      t.registry.db,
    )
    const before = await snapshot()

    let response: Response
    try {
      response = await t.api('POST', '/patients', { names: [{ family: 'Probe' }] })
    } finally {
      await sql`alter table ${table} drop constraint bad_input_probe`.execute(t.registry.db)
    }
    const text = await response.text()
    const problem = JSON.parse(text) as Problem

    expect(response.status).toBe(500)
    expect(response.headers.get('content-type')).toContain('application/problem+json')
    expect(problem.code).toBe('INTERNAL_ERROR')
    expect(problem.status).toBe(500)
    expect(problem.detail).toBe('The server failed to handle the request')
    expect(problem.requestId).toBe(response.headers.get('x-request-id'))
    expect(text).not.toContain('bad_input_probe')
    expectNoLeak(problem, {
      route: 'POST /patients',
      name: 'database failure',
      method: 'POST',
      path: '/patients',
      status: 500,
      code: 'INTERNAL_ERROR',
    })
    expect(await snapshot()).toEqual(before)
  })
})
