import type { Condition } from '../src/conditions/condition.schemas.ts'
import type { Patient } from '../src/patients/patient.schemas.ts'
import { MAX_BODY_BYTES } from '../src/platform/http.ts'
import {
  MAX_CODE_LENGTH,
  MAX_LIST_ITEMS,
  MAX_PARTS,
  MAX_SHORT_TEXT_LENGTH,
  MAX_TEXT_LENGTH,
  MAX_URI_LENGTH,
} from '../src/platform/input-limits.ts'

// Tables of malformed requests for bad-input.int.test.ts: wrong types, missing and unknown
// members, huge values, invalid dates and codes, broken JSON, wrong media types, injection
// strings, oversized bodies, bad path ids and If-Match values, and bad rest-hook payloads.

export const SECRET = 'bad-input-subscription-secret'
const SNOMED_CT = 'http://snomed.info/sct'
const ICD_10_CM = 'http://hl7.org/fhir/sid/icd-10-cm'
export const EPILEPSY = { system: SNOMED_CT, code: '84757009', display: 'Epilepsy' }
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000'
const STALE = '"999"'

export const INJECTIONS = [
  "' OR '1'='1",
  "'; DROP TABLE patients; --",
  '1; SELECT pg_sleep(5); --',
  "' UNION SELECT id, actor FROM audit_log --",
  "Robert'); DELETE FROM conditions; --",
  '" OR ""="',
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '${7*7}{{7*7}}',
  '../../../../etc/passwd',
]

export type Auth = 'operator' | 'none' | 'secret' | 'wrong-secret'

export interface BadRequest {
  /** Route template, such as `PATCH /patients/{id}`, for the count of routes covered. */
  route: string
  name: string
  method: string
  path: string
  /** Raw body; a function builds it per send, for a stream that can be read only once. */
  body?: string | (() => ReadableStream<Uint8Array>)
  /** Content-Type to send; null sends none. */
  contentType?: string | null
  headers?: Record<string, string>
  auth?: Auth
  status: number
  code: string
  /** A path that the error's field list must name. */
  errorPath?: string
}

/** The rows that the test seeds, which cases address to reach checks past the path. */
export interface Fixtures {
  patient: Patient
  condition: Condition
  conflictId: string
  driftRunId: string
}

/** Sets `value` at a dot path (`names.0.family`) of a copy of `base`. */
function withValue(base: unknown, path: string, value: unknown): unknown {
  const copy = structuredClone(base) as Record<string, unknown>
  const keys = path.split('.')
  let node: Record<string, unknown> = copy
  for (const [index, key] of keys.entries()) {
    if (index === keys.length - 1) {
      node[key] = value
    } else {
      node[key] ??= /^\d+$/.test(keys[index + 1] ?? '') ? [] : {}
      node = node[key] as Record<string, unknown>
    }
  }
  return copy
}

interface BodyRoute {
  route: string
  method: string
  path: string
  /** A body the route accepts, which each case breaks in one place. */
  valid: unknown
  headers?: Record<string, string>
}

const bodyRoutes = (f: Fixtures): BodyRoute[] => [
  { route: 'POST /patients', method: 'POST', path: '/patients', valid: {} },
  {
    route: 'PUT /patients/{id}',
    method: 'PUT',
    path: `/patients/${f.patient.id}`,
    valid: {},
    headers: { 'If-Match': STALE },
  },
  {
    route: 'PATCH /patients/{id}',
    method: 'PATCH',
    path: `/patients/${f.patient.id}`,
    valid: {},
    headers: { 'If-Match': STALE },
  },
  {
    route: 'POST /conditions',
    method: 'POST',
    path: '/conditions',
    valid: { patientId: f.patient.id, code: { coding: [EPILEPSY] } },
  },
  {
    route: 'PUT /conditions/{id}',
    method: 'PUT',
    path: `/conditions/${f.condition.id}`,
    valid: { code: { coding: [EPILEPSY] } },
    headers: { 'If-Match': STALE },
  },
  {
    route: 'PATCH /conditions/{id}',
    method: 'PATCH',
    path: `/conditions/${f.condition.id}`,
    valid: {},
    headers: { 'If-Match': STALE },
  },
  {
    route: 'POST /conflicts/{id}/resolve',
    method: 'POST',
    path: `/conflicts/${UNKNOWN_ID}/resolve`,
    valid: { choice: 'registry' },
  },
  {
    route: 'POST /conflicts/{id}/dismiss',
    method: 'POST',
    path: `/conflicts/${UNKNOWN_ID}/dismiss`,
    valid: { reason: 'Both values are wrong' },
  },
  {
    route: 'POST /conflicts/resolve',
    method: 'POST',
    path: '/conflicts/resolve',
    valid: { conflictIds: [UNKNOWN_ID], choice: 'registry' },
  },
  {
    route: 'POST /sync/failed/replay',
    method: 'POST',
    path: '/sync/failed/replay',
    valid: { entityType: 'patient' },
  },
  {
    route: 'POST /sync/drift/runs',
    method: 'POST',
    path: '/sync/drift/runs',
    valid: { kind: 'bogus' },
  },
]

function jsonCase(
  route: BodyRoute,
  name: string,
  body: unknown,
  expected: { status?: number; code?: string; errorPath?: string } = {},
): BadRequest {
  return {
    route: route.route,
    name: `${route.route}: ${name}`,
    method: route.method,
    path: route.path,
    body: JSON.stringify(body),
    headers: route.headers,
    status: expected.status ?? 400,
    code: expected.code ?? 'VALIDATION_FAILED',
    errorPath: expected.errorPath,
  }
}

let oversized: string | undefined

/** Builds a body over MAX_BODY_BYTES: one long family name, valid JSON apart from its size. */
function oversizedBody(): string {
  oversized ??= JSON.stringify({ names: [{ family: 'x'.repeat(MAX_BODY_BYTES) }] })
  return oversized
}

/** Builds the same oversized body as a stream, which fetch sends in chunks. */
function oversizedStream(): () => ReadableStream<Uint8Array> {
  return () => {
    const chunk = new TextEncoder().encode('x'.repeat(64 * 1024))
    let sent = 0
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode('{"names":[{"family":"'))
        if (sent > MAX_BODY_BYTES) {
          controller.enqueue(new TextEncoder().encode('"}]}'))
          controller.close()
          return
        }
        controller.enqueue(chunk)
        sent += chunk.byteLength
      },
    })
  }
}

/**
 * Builds cases of broken JSON, wrong media types, bodies that are not objects, unknown members
 * and oversized bodies, for every route that takes a body.
 */
function bodyFormatCases(f: Fixtures): BadRequest[] {
  const cases: BadRequest[] = []
  const brokenJson = ['{', '{"names": [}', 'nul', "{'single': 'quotes'}", '{"a": 1,}', '{"a": 1} x']
  const mediaTypes = [
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/xml',
    null,
  ]
  for (const route of bodyRoutes(f)) {
    const base = { route: route.route, method: route.method, path: route.path }
    const headers = route.headers
    for (const text of brokenJson) {
      cases.push({
        ...base,
        name: `${route.route}: broken JSON ${text}`,
        body: text,
        headers,
        status: 400,
        code: 'MALFORMED_REQUEST',
      })
    }
    for (const contentType of mediaTypes) {
      cases.push({
        ...base,
        name: `${route.route}: Content-Type ${contentType ?? 'missing'}`,
        body: JSON.stringify(route.valid),
        contentType,
        headers,
        status: 415,
        code: 'UNSUPPORTED_MEDIA_TYPE',
      })
    }
    for (const body of [[], 'text', 42, null]) {
      cases.push(jsonCase(route, `body ${JSON.stringify(body)}`, body, { errorPath: '' }))
    }
    cases.push(
      jsonCase(route, 'unknown top-level field', withValue(route.valid, 'unknownField', 1), {
        errorPath: 'unknownField',
      }),
      jsonCase(
        route,
        'unknown injected field name',
        withValue(route.valid, INJECTIONS[1] ?? '', 1),
      ),
      {
        ...base,
        name: `${route.route}: body over the size limit`,
        body: oversizedBody(),
        headers,
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
      },
      {
        ...base,
        name: `${route.route}: chunked body over the size limit`,
        body: oversizedStream(),
        headers,
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
      },
    )
  }
  const required = bodyRoutes(f).filter((route) => route.route !== 'POST /sync/failed/replay')
  for (const route of required) {
    cases.push({
      route: route.route,
      name: `${route.route}: no body`,
      method: route.method,
      path: route.path,
      headers: route.headers,
      contentType: null,
      status: 400,
      code: 'MALFORMED_REQUEST',
    })
  }
  return cases
}

/** Builds patient cases that break one field each: wrong types, unknown members, huge values. */
function patientFieldCases(f: Fixtures): BadRequest[] {
  const route = bodyRoutes(f)[0] as BodyRoute
  // Name, path, value, and the path the error names when it is not the value's own.
  const fieldCases: [string, string, unknown, string?][] = [
    ['names not a list', 'names', 'Ada Lovelace'],
    ['name not an object', 'names.0', 'Ada'],
    ['family a number', 'names.0.family', 42],
    ['given not a list', 'names.0.given', 'Ada'],
    ['given of numbers', 'names.0.given.0', 7],
    ['name use unknown', 'names.0.use', 'nick'],
    ['unknown name member', 'names.0.nickname', 'Ada'],
    ['family of whitespace', 'names.0.family', '   '],
    ['family with NUL', 'names.0.family', 'Ada\u0000Lovelace'],
    ['family too long', 'names.0.family', 'x'.repeat(MAX_SHORT_TEXT_LENGTH + 1)],
    ['name text too long', 'names.0.text', 'x'.repeat(MAX_TEXT_LENGTH + 1)],
    ['given part too long', 'names.0.given.0', 'x'.repeat(MAX_SHORT_TEXT_LENGTH + 1)],
    ['too many given names', 'names.0.given', Array.from({ length: MAX_PARTS + 1 }, () => 'A')],
    [
      'too many names',
      'names',
      Array.from({ length: MAX_LIST_ITEMS + 1 }, () => ({ family: 'A' })),
    ],
    ['name period start invalid', 'names.0.period.start', '2020-02-30'],
    ['unknown period member', 'names.0.period.begin', '2020'],
    [
      'extension without url',
      'names.0.extension.0',
      { valueString: 'x' },
      'names.0.extension.0.url',
    ],
    [
      'extension url too long',
      'names.0.extension.0.url',
      `https://x.org/${'x'.repeat(MAX_URI_LENGTH)}`,
    ],
    ['birthDate a number', 'birthDate', 19800517],
    ['birthDate 30 February', 'birthDate', '1980-02-30'],
    ['birthDate month 13', 'birthDate', '1980-13'],
    ['birthDate year 0000', 'birthDate', '0000'],
    ['birthDate without dashes', 'birthDate', '19800517'],
    ['birthDate single digits', 'birthDate', '1980-5-7'],
    ['birthDate with a time', 'birthDate', '1980-05-17T10:00:00Z'],
    ['birthDate in the future', 'birthDate', '2999-01-01'],
    ['birthDate free text', 'birthDate', 'yesterday'],
    ['gender unknown', 'gender', 'm'],
    ['gender a boolean', 'gender', true],
    ['identifiers an object', 'identifiers', { value: '1' }],
    ['identifier value a number', 'identifiers.0.value', 12345],
    ['identifier system not a URL', 'identifiers.0.system', 'not a url'],
    [
      'identifier system too long',
      'identifiers.0.system',
      `https://x.org/${'x'.repeat(MAX_URI_LENGTH)}`,
    ],
    ['identifier value too long', 'identifiers.0.value', 'x'.repeat(MAX_CODE_LENGTH + 1)],
    ['identifier use unknown', 'identifiers.0.use', 'primary'],
    ['unknown identifier member', 'identifiers.0.checkDigit', '7'],
    [
      'identifier type coding code too long',
      'identifiers.0.type.coding.0.code',
      'x'.repeat(MAX_CODE_LENGTH + 1),
    ],
    ['identifier assigner unknown member', 'identifiers.0.assigner.name', 'Hospital'],
    ['telecom value without system', 'telecom.0.value', '+44 20 7946 0958', 'telecom.0.system'],
    ['telecom system unknown', 'telecom.0.system', 'telegram'],
    ['telecom rank zero', 'telecom.0.rank', 0],
    ['telecom rank a fraction', 'telecom.0.rank', 1.5],
    ['telecom rank a string', 'telecom.0.rank', '1'],
    ['unknown telecom member', 'telecom.0.verified', true],
    [
      'too many telecoms',
      'telecom',
      Array.from({ length: MAX_LIST_ITEMS + 1 }, () => ({ system: 'phone', value: '1' })),
    ],
    ['address line not a list', 'addresses.0.line', '12 Queen Square'],
    ['address line too long', 'addresses.0.line.0', 'x'.repeat(MAX_SHORT_TEXT_LENGTH + 1)],
    [
      'too many address lines',
      'addresses.0.line',
      Array.from({ length: MAX_PARTS + 1 }, () => 'l'),
    ],
    ['address city too long', 'addresses.0.city', 'x'.repeat(MAX_SHORT_TEXT_LENGTH + 1)],
    ['postal code too long', 'addresses.0.postalCode', 'x'.repeat(MAX_CODE_LENGTH + 1)],
    ['address text too long', 'addresses.0.text', 'x'.repeat(MAX_TEXT_LENGTH + 1)],
    ['address type unknown', 'addresses.0.type', 'virtual'],
    ['unknown address member', 'addresses.0.county', 'Kent'],
    ['deceased a boolean', 'deceased', true],
    ['deceased flag a string', 'deceased.boolean', 'yes'],
    ['deceased date invalid', 'deceased.dateTime', '2020-02-30T10:00:00Z'],
    ['deceased date in the future', 'deceased.dateTime', '2999-01-01'],
    ['deceased time without zone', 'deceased.dateTime', '2020-01-01T10:00:00'],
  ]
  const cases = fieldCases.map(([name, path, value, errorPath]) =>
    jsonCase(route, name, withValue({}, path, value), {
      errorPath: errorPath ?? path,
    }),
  )
  cases.push(
    jsonCase(route, 'deceased with both members', {
      deceased: { boolean: true, dateTime: '2020' },
    }),
    jsonCase(route, 'unknown deceased member', { deceased: { boolean: true, cause: 'x' } }),
  )
  return cases
}

function conditionFieldCases(f: Fixtures): BadRequest[] {
  const route = bodyRoutes(f)[3] as BodyRoute
  const valid = route.valid
  const withCoding = (coding: unknown) => ({ ...(valid as object), code: { coding: [coding] } })
  const cases: BadRequest[] = [
    jsonCase(route, 'no patientId', { code: { coding: [EPILEPSY] } }, { errorPath: 'patientId' }),
    jsonCase(route, 'no code', { patientId: f.patient.id }, { errorPath: 'code' }),
    jsonCase(route, 'patientId not a UUID', withValue(valid, 'patientId', '42'), {
      errorPath: 'patientId',
    }),
    jsonCase(route, 'patientId a number', withValue(valid, 'patientId', 42), {
      errorPath: 'patientId',
    }),
    jsonCase(route, 'patientId of no patient', withValue(valid, 'patientId', UNKNOWN_ID), {
      errorPath: 'patientId',
    }),
    jsonCase(route, 'code a string', withValue(valid, 'code', 'G40.909'), { errorPath: 'code' }),
    jsonCase(route, 'code with no coding', withValue(valid, 'code', { text: 'Epilepsy' })),
    jsonCase(route, 'coding not a list', withValue(valid, 'code.coding', EPILEPSY), {
      errorPath: 'code.coding',
    }),
    jsonCase(route, 'SNOMED CT code too short', withCoding({ system: SNOMED_CT, code: '12345' }), {
      errorPath: 'code.coding.0.code',
    }),
    jsonCase(
      route,
      'SNOMED CT check digit wrong',
      withCoding({ system: SNOMED_CT, code: '84757008' }),
      {
        errorPath: 'code.coding.0.code',
      },
    ),
    jsonCase(
      route,
      'SNOMED CT code with letters',
      withCoding({ system: SNOMED_CT, code: 'G40.909' }),
      {
        errorPath: 'code.coding.0.code',
      },
    ),
    jsonCase(
      route,
      'SNOMED CT code with a leading zero',
      withCoding({ system: SNOMED_CT, code: '084757009' }),
      {
        errorPath: 'code.coding.0.code',
      },
    ),
    jsonCase(
      route,
      'ICD-10-CM code without its dot',
      withCoding({ system: ICD_10_CM, code: 'G40909' }),
      {
        errorPath: 'code.coding.0.code',
      },
    ),
    jsonCase(
      route,
      'ICD-10-CM code in lower case',
      withCoding({ system: ICD_10_CM, code: 'g40.909' }),
      {
        errorPath: 'code.coding.0.code',
      },
    ),
    jsonCase(route, 'ICD-10-CM code of digits', withCoding({ system: ICD_10_CM, code: '345.10' }), {
      errorPath: 'code.coding.0.code',
    }),
    jsonCase(route, 'coding system not a URL', withCoding({ system: 'snomed', code: '84757009' }), {
      errorPath: 'code.coding.0.system',
    }),
    jsonCase(
      route,
      'coding code too long',
      withCoding({ system: SNOMED_CT, code: '1'.repeat(MAX_CODE_LENGTH + 1) }),
      {
        errorPath: 'code.coding.0.code',
      },
    ),
    jsonCase(
      route,
      'coding display too long',
      withCoding({ ...EPILEPSY, display: 'x'.repeat(MAX_SHORT_TEXT_LENGTH + 1) }),
      {
        errorPath: 'code.coding.0.display',
      },
    ),
    jsonCase(route, 'unknown coding member', withCoding({ ...EPILEPSY, rank: 1 }), {
      errorPath: 'code.coding.0.rank',
    }),
    jsonCase(
      route,
      'too many codings',
      withValue(
        valid,
        'code.coding',
        Array.from({ length: MAX_LIST_ITEMS + 1 }, () => EPILEPSY),
      ),
      {
        errorPath: 'code.coding',
      },
    ),
    jsonCase(
      route,
      'code text too long',
      withValue(valid, 'code.text', 'x'.repeat(MAX_TEXT_LENGTH + 1)),
      {
        errorPath: 'code.text',
      },
    ),
    jsonCase(route, 'clinicalStatus unknown', withValue(valid, 'clinicalStatus', 'cured'), {
      errorPath: 'clinicalStatus',
    }),
    jsonCase(route, 'verificationStatus unknown', withValue(valid, 'verificationStatus', 'maybe'), {
      errorPath: 'verificationStatus',
    }),
    jsonCase(
      route,
      'clinicalStatus with entered-in-error',
      { ...(valid as object), clinicalStatus: 'active', verificationStatus: 'entered-in-error' },
      {
        errorPath: 'clinicalStatus',
      },
    ),
    jsonCase(
      route,
      'active clinicalStatus with an abatement',
      { ...(valid as object), clinicalStatus: 'active', abatement: { dateTime: '2020' } },
      {
        errorPath: 'clinicalStatus',
      },
    ),
    jsonCase(
      route,
      'recordedDate invalid',
      withValue(valid, 'recordedDate', '2020-01-01T25:00:00Z'),
      {
        errorPath: 'recordedDate',
      },
    ),
    jsonCase(route, 'recordedDate a number', withValue(valid, 'recordedDate', 20200101), {
      errorPath: 'recordedDate',
    }),
    jsonCase(
      route,
      'onset with two members',
      withValue(valid, 'onset', { dateTime: '2015', string: 'childhood' }),
    ),
    jsonCase(route, 'onset of an unknown type', withValue(valid, 'onset', { instant: '2015' })),
    jsonCase(
      route,
      'onset dateTime invalid',
      withValue(valid, 'onset', { dateTime: '2015-02-29' }),
    ),
    jsonCase(
      route,
      'onset time without seconds',
      withValue(valid, 'onset', { dateTime: '2015-01-01T10:30Z' }),
      { errorPath: 'onset.dateTime' },
    ),
    jsonCase(
      route,
      'onset age value a string',
      withValue(valid, 'onset', { age: { value: '52' } }),
    ),
    jsonCase(route, 'onset age without value', withValue(valid, 'onset', { age: { unit: 'a' } })),
    jsonCase(route, 'negative onset age', withValue(valid, 'onset', { age: { value: -5 } }), {
      errorPath: 'onset.age.value',
    }),
    jsonCase(route, 'onset age of 1e308', withValue(valid, 'onset', { age: { value: 1e308 } }), {
      errorPath: 'onset.age.value',
    }),
    jsonCase(
      route,
      'extension value of 200,000 characters',
      withValue(valid, 'extension', [
        { url: 'https://example.org/note', valueString: 'x'.repeat(200_000) },
      ]),
    ),
    jsonCase(
      route,
      'unknown onset age member',
      withValue(valid, 'onset', { age: { value: 52, years: 52 } }),
    ),
    jsonCase(
      route,
      'onset age unit too long',
      withValue(valid, 'onset', {
        age: { value: 52, unit: 'x'.repeat(MAX_SHORT_TEXT_LENGTH + 1) },
      }),
    ),
    jsonCase(
      route,
      'onset period end invalid',
      withValue(valid, 'onset', { period: { end: 'soon' } }),
    ),
    jsonCase(
      route,
      'unknown onset period member',
      withValue(valid, 'onset', { period: { from: '2015' } }),
    ),
    jsonCase(
      route,
      'unknown onset range member',
      withValue(valid, 'onset', { range: { low: { value: 1 }, middle: 2 } }),
    ),
    jsonCase(route, 'onset string empty', withValue(valid, 'onset', { string: '' })),
    jsonCase(
      route,
      'onset string too long',
      withValue(valid, 'onset', { string: 'x'.repeat(MAX_TEXT_LENGTH + 1) }),
    ),
    jsonCase(route, 'abatement a string', withValue(valid, 'abatement', '2020')),
  ]
  const patch = bodyRoutes(f)[5] as BodyRoute
  cases.push(
    jsonCase(patch, 'code null', { code: null }, { errorPath: 'code' }),
    jsonCase(
      patch,
      'patientId, which a patch cannot change',
      { patientId: f.patient.id },
      {
        errorPath: 'patientId',
      },
    ),
    jsonCase(patch, 'SNOMED CT code invalid', {
      code: { coding: [{ system: SNOMED_CT, code: '1' }] },
    }),
  )
  const put = bodyRoutes(f)[4] as BodyRoute
  cases.push(
    jsonCase(put, 'no code', {}, { errorPath: 'code' }),
    jsonCase(
      put,
      'patientId, which a replace cannot change',
      { ...(put.valid as object), patientId: f.patient.id },
      {
        errorPath: 'patientId',
      },
    ),
  )
  return cases
}

function conflictAndSyncCases(f: Fixtures): BadRequest[] {
  const [resolve, dismiss, bulk, replay, drift] = bodyRoutes(f).slice(6)
  const seeded = { ...resolve, path: `/conflicts/${f.conflictId}/resolve` } as BodyRoute
  if (!resolve || !dismiss || !bulk || !replay || !drift) throw new Error('missing route')
  return [
    jsonCase(resolve, 'no choice', {}, { errorPath: 'choice' }),
    jsonCase(resolve, 'choice unknown', { choice: 'both' }, { errorPath: 'choice' }),
    jsonCase(resolve, 'choice a number', { choice: 1 }, { errorPath: 'choice' }),
    jsonCase(
      resolve,
      'value with choice registry',
      { choice: 'registry', value: 'x' },
      { errorPath: 'value' },
    ),
    jsonCase(
      seeded,
      'value an invalid date',
      { choice: 'value', value: '1980-02-30' },
      { errorPath: 'value' },
    ),
    jsonCase(seeded, 'value a number', { choice: 'value', value: 1980 }, { errorPath: 'value' }),
    jsonCase(
      seeded,
      'value in the future',
      { choice: 'value', value: '2999-01-01' },
      { errorPath: 'value' },
    ),
    jsonCase(
      seeded,
      'value an object',
      { choice: 'value', value: { date: '1980' } },
      { errorPath: 'value' },
    ),
    jsonCase(dismiss, 'no reason', {}, { errorPath: 'reason' }),
    jsonCase(dismiss, 'reason empty', { reason: '' }, { errorPath: 'reason' }),
    jsonCase(dismiss, 'reason of whitespace', { reason: '   ' }, { errorPath: 'reason' }),
    jsonCase(dismiss, 'reason a number', { reason: 7 }, { errorPath: 'reason' }),
    jsonCase(dismiss, 'reason too long', { reason: 'x'.repeat(2001) }, { errorPath: 'reason' }),
    jsonCase(dismiss, 'reason with NUL', { reason: 'a\u0000b' }, { errorPath: 'reason' }),
    jsonCase(bulk, 'no conflictIds', { choice: 'registry' }, { errorPath: 'conflictIds' }),
    jsonCase(bulk, 'no choice', { conflictIds: [UNKNOWN_ID] }, { errorPath: 'choice' }),
    jsonCase(
      bulk,
      'conflictIds empty',
      { conflictIds: [], choice: 'fhir' },
      { errorPath: 'conflictIds' },
    ),
    jsonCase(
      bulk,
      'conflictIds a string',
      { conflictIds: UNKNOWN_ID, choice: 'fhir' },
      { errorPath: 'conflictIds' },
    ),
    jsonCase(
      bulk,
      'f.conflictId not a UUID',
      { conflictIds: ['1'], choice: 'fhir' },
      { errorPath: 'conflictIds.0' },
    ),
    jsonCase(
      bulk,
      'more than 500 conflictIds',
      { conflictIds: Array.from({ length: 501 }, () => UNKNOWN_ID), choice: 'fhir' },
      { errorPath: 'conflictIds' },
    ),
    jsonCase(
      bulk,
      'choice value, which bulk does not take',
      { conflictIds: [UNKNOWN_ID], choice: 'value' },
      { errorPath: 'choice' },
    ),
    jsonCase(
      replay,
      'entityType unknown',
      { entityType: 'observation' },
      { errorPath: 'entityType' },
    ),
    jsonCase(replay, 'entityType a list', { entityType: ['patient'] }, { errorPath: 'entityType' }),
    jsonCase(drift, 'no kind', {}, { errorPath: 'kind' }),
    jsonCase(drift, 'kind a number', { kind: 1 }, { errorPath: 'kind' }),
    jsonCase(drift, 'kind in capitals', { kind: 'CATCH-UP' }, { errorPath: 'kind' }),
  ]
}

/**
 * Builds cases with an injection string in every string field. Fields with a format reject it
 * with 400. Free text passes validation and reaches the service, which returns 412 or 404
 * because the If-Match is stale or the target does not exist, so the strings travel the same
 * path that a real write would.
 */
function injectionBodyCases(f: Fixtures): BadRequest[] {
  const routes = bodyRoutes(f)
  const [createPatient, , patchPatient, createCondition, replaceCondition] = routes
  const [, , , , , , , dismiss, bulk, replay, drift] = routes
  if (!createPatient || !patchPatient || !createCondition || !replaceCondition) {
    throw new Error('missing route')
  }
  if (!dismiss || !bulk || !replay || !drift) throw new Error('missing route')
  const seededResolve: BodyRoute = {
    ...(routes[6] as BodyRoute),
    path: `/conflicts/${f.conflictId}/resolve`,
  }
  const formatted: [BodyRoute, string][] = [
    [createPatient, 'birthDate'],
    [createPatient, 'gender'],
    [createPatient, 'names.0.use'],
    [createPatient, 'telecom.0.system'],
    [createPatient, 'identifiers.0.system'],
    [createPatient, 'addresses.0.type'],
    [createPatient, 'deceased.dateTime'],
    [createCondition, 'patientId'],
    [createCondition, 'clinicalStatus'],
    [createCondition, 'recordedDate'],
    [createCondition, 'code.coding.0.system'],
    [bulk, 'choice'],
    [bulk, 'conflictIds.0'],
    [replay, 'entityType'],
    [drift, 'kind'],
  ]
  const freeText: [BodyRoute, string, number, string][] = [
    [patchPatient, 'names.0.family', 412, 'VERSION_MISMATCH'],
    [patchPatient, 'names.0.given.0', 412, 'VERSION_MISMATCH'],
    [patchPatient, 'names.0.text', 412, 'VERSION_MISMATCH'],
    [patchPatient, 'identifiers.0.value', 412, 'VERSION_MISMATCH'],
    [patchPatient, 'addresses.0.line.0', 412, 'VERSION_MISMATCH'],
    [patchPatient, 'addresses.0.city', 412, 'VERSION_MISMATCH'],
    [patchPatient, 'addresses.0.postalCode', 412, 'VERSION_MISMATCH'],
    [replaceCondition, 'code.text', 412, 'VERSION_MISMATCH'],
    [replaceCondition, 'code.coding.1.display', 412, 'VERSION_MISMATCH'],
    [replaceCondition, 'onset.string', 412, 'VERSION_MISMATCH'],
    [dismiss, 'reason', 404, 'NOT_FOUND'],
  ]
  const cases: BadRequest[] = []
  for (const injection of INJECTIONS) {
    for (const [route, path] of formatted) {
      const body = withValue(route.valid, path, injection)
      cases.push(jsonCase(route, `${path} = ${injection}`, body, { errorPath: path }))
    }
    for (const [route, path, status, code] of freeText) {
      const body = withValue(route.valid, path, injection)
      cases.push(jsonCase(route, `${path} = ${injection}`, body, { status, code }))
    }
    cases.push(
      jsonCase(
        patchPatient,
        `telecom value = ${injection}`,
        {
          telecom: [{ system: 'email', value: injection }],
        },
        { status: 412, code: 'VERSION_MISMATCH' },
      ),
      jsonCase(
        seededResolve,
        `resolved value = ${injection}`,
        { choice: 'value', value: injection },
        {
          errorPath: 'value',
        },
      ),
    )
  }
  return cases
}

/** Builds cases of malformed and injected query parameters on every list route. */
function queryCases(f: Fixtures): BadRequest[] {
  const lists: { route: string; path: string; formatted: string[] }[] = [
    {
      route: 'GET /patients',
      path: '/patients',
      formatted: ['fhirId', 'birthDate', 'limit', 'cursor'],
    },
    {
      route: 'GET /conditions',
      path: '/conditions',
      formatted: ['patientId', 'neurological', 'limit', 'cursor'],
    },
    {
      route: 'GET /conflicts',
      path: '/conflicts',
      formatted: [
        'status',
        'entityType',
        'entityId',
        'createdFrom',
        'createdTo',
        'limit',
        'cursor',
      ],
    },
    {
      route: 'GET /sync/failed',
      path: '/sync/failed',
      formatted: ['entityType', 'limit', 'cursor'],
    },
    { route: 'GET /sync/drift/runs', path: '/sync/drift/runs', formatted: ['kind', 'limit'] },
    {
      route: 'GET /sync/drift/runs/{id}/findings',
      path: `/sync/drift/runs/${f.driftRunId}/findings`,
      formatted: ['limit', 'cursor'],
    },
    { route: 'GET /users', path: '/users', formatted: ['limit', 'cursor'] },
    {
      route: 'GET /audit',
      path: '/audit',
      formatted: [
        'entityType',
        'entityId',
        'source',
        'action',
        'occurredFrom',
        'occurredTo',
        'limit',
        'cursor',
      ],
    },
    {
      route: 'GET /value-sets/{id}/codes',
      path: '/value-sets/neurological-conditions/codes',
      formatted: ['limit', 'cursor'],
    },
  ]
  const malformed: [string, string][] = [
    ['limit', '0'],
    ['limit', '-1'],
    ['limit', '201'],
    ['limit', '1.5'],
    ['limit', 'ten'],
    ['limit', '1e3'],
    ['limit', ''],
    ['cursor', 'not-a-cursor'],
    ['cursor', Buffer.from('2020-01-01T00:00:00Z|not-a-uuid').toString('base64url')],
    ['cursor', Buffer.from('yesterday|1').toString('base64url')],
    ['cursor', 'x'.repeat(300)],
    ['limt', '10'],
    ['filter', 'everything'],
  ]
  const cases: BadRequest[] = []
  const get = (route: string, path: string, name: string, query: string): BadRequest => ({
    route,
    name: `${route}: ${name}`,
    method: 'GET',
    path: `${path}?${query}`,
    status: 400,
    code: 'VALIDATION_FAILED',
  })
  for (const list of lists) {
    for (const [name, value] of malformed) {
      if (name === 'cursor' && !list.formatted.includes('cursor')) continue
      const query = new URLSearchParams({ [name]: value }).toString()
      cases.push({
        ...get(list.route, list.path, `${name}=${value.slice(0, 40)}`, query),
        errorPath: name,
      })
    }
    for (const name of list.formatted) {
      for (const injection of INJECTIONS) {
        const query = new URLSearchParams({ [name]: injection }).toString()
        cases.push({
          ...get(list.route, list.path, `${name}=${injection}`, query),
          errorPath: name,
        })
      }
    }
    const unknown = new URLSearchParams({ [INJECTIONS[0] ?? '']: '1' }).toString()
    cases.push(get(list.route, list.path, 'injected parameter name', unknown))
    cases.push(get(list.route, list.path, 'limit twice', 'limit=1&limit=2'))
  }
  cases.push(
    {
      ...get(
        'GET /patients',
        '/patients',
        'name too long',
        `name=${'x'.repeat(MAX_SHORT_TEXT_LENGTH + 1)}`,
      ),
      errorPath: 'name',
    },
    {
      ...get('GET /patients', '/patients', 'name of whitespace', 'name=%20%20'),
      errorPath: 'name',
    },
    { ...get('GET /patients', '/patients', 'name with NUL', 'name=a%00b'), errorPath: 'name' },
    {
      ...get(
        'GET /patients',
        '/patients',
        'identifier too long',
        `identifier=${'x'.repeat(MAX_URI_LENGTH + MAX_CODE_LENGTH + 2)}`,
      ),
      errorPath: 'identifier',
    },
    {
      ...get('GET /patients', '/patients', 'birthDate with a time', 'birthDate=1980-05-17T00:00'),
      errorPath: 'birthDate',
    },
    { ...get('GET /conditions', '/conditions', 'code with NUL', 'code=G40%00'), errorPath: 'code' },
    {
      ...get('GET /conditions', '/conditions', 'neurological yes', 'neurological=yes'),
      errorPath: 'neurological',
    },
    {
      ...get('GET /conflicts', '/conflicts', 'field too long', `field=${'x'.repeat(101)}`),
      errorPath: 'field',
    },
    {
      ...get(
        'GET /conflicts',
        '/conflicts',
        'createdFrom without zone',
        'createdFrom=2026-01-01T00:00:00',
      ),
      errorPath: 'createdFrom',
    },
    {
      ...get('GET /conflicts', '/conflicts', 'createdTo a date', 'createdTo=2026-13-01T00:00:00Z'),
      errorPath: 'createdTo',
    },
  )
  return cases
}

/** Builds cases of malformed ids in the path of every route that names one entity. */
function pathIdCases(): BadRequest[] {
  const routes: { route: string; method: string; path: (id: string) => string; body?: unknown }[] =
    [
      { route: 'GET /patients/{id}', method: 'GET', path: (id) => `/patients/${id}` },
      { route: 'PUT /patients/{id}', method: 'PUT', path: (id) => `/patients/${id}`, body: {} },
      { route: 'PATCH /patients/{id}', method: 'PATCH', path: (id) => `/patients/${id}`, body: {} },
      { route: 'DELETE /patients/{id}', method: 'DELETE', path: (id) => `/patients/${id}` },
      { route: 'GET /conditions/{id}', method: 'GET', path: (id) => `/conditions/${id}` },
      {
        route: 'PUT /conditions/{id}',
        method: 'PUT',
        path: (id) => `/conditions/${id}`,
        body: { code: { coding: [EPILEPSY] } },
      },
      {
        route: 'PATCH /conditions/{id}',
        method: 'PATCH',
        path: (id) => `/conditions/${id}`,
        body: {},
      },
      { route: 'DELETE /conditions/{id}', method: 'DELETE', path: (id) => `/conditions/${id}` },
      { route: 'GET /conflicts/{id}', method: 'GET', path: (id) => `/conflicts/${id}` },
      {
        route: 'POST /conflicts/{id}/resolve',
        method: 'POST',
        path: (id) => `/conflicts/${id}/resolve`,
        body: { choice: 'registry' },
      },
      {
        route: 'POST /conflicts/{id}/dismiss',
        method: 'POST',
        path: (id) => `/conflicts/${id}/dismiss`,
        body: { reason: 'No longer relevant' },
      },
      {
        route: 'POST /sync/failed/{entityType}/{id}/replay',
        method: 'POST',
        path: (id) => `/sync/failed/patient/${id}/replay`,
      },
      { route: 'GET /sync/drift/runs/{id}', method: 'GET', path: (id) => `/sync/drift/runs/${id}` },
      {
        route: 'GET /sync/drift/runs/{id}/findings',
        method: 'GET',
        path: (id) => `/sync/drift/runs/${id}/findings`,
      },
    ]
  const ids = [
    ...INJECTIONS,
    '42',
    `${UNKNOWN_ID}0`,
    UNKNOWN_ID.replaceAll('-', ''),
    'x'.repeat(1000),
    '%00',
  ]
  const cases: BadRequest[] = []
  for (const route of routes) {
    for (const id of ids) {
      cases.push({
        route: route.route,
        name: `${route.route}: id ${id.slice(0, 40)}`,
        method: route.method,
        path: route.path(encodeURIComponent(id)),
        body: route.body === undefined ? undefined : JSON.stringify(route.body),
        headers: { 'If-Match': '"1"' },
        status: 400,
        code: 'VALIDATION_FAILED',
        errorPath: 'id',
      })
    }
  }
  cases.push({
    route: 'POST /sync/failed/{entityType}/{id}/replay',
    name: 'replay of an unknown entity type',
    method: 'POST',
    path: `/sync/failed/observation/${UNKNOWN_ID}/replay`,
    status: 400,
    code: 'VALIDATION_FAILED',
    errorPath: 'entityType',
  })
  return cases
}

/** Builds cases of If-Match values that name no version, and of writes without one. */
function ifMatchCases(f: Fixtures): BadRequest[] {
  const writes = [
    {
      route: 'PUT /patients/{id}',
      method: 'PUT',
      path: () => `/patients/${f.patient.id}`,
      body: {},
    },
    {
      route: 'PATCH /patients/{id}',
      method: 'PATCH',
      path: () => `/patients/${f.patient.id}`,
      body: {},
    },
    { route: 'DELETE /patients/{id}', method: 'DELETE', path: () => `/patients/${f.patient.id}` },
    {
      route: 'PUT /conditions/{id}',
      method: 'PUT',
      path: () => `/conditions/${f.condition.id}`,
      body: { code: { coding: [EPILEPSY] } },
    },
    {
      route: 'PATCH /conditions/{id}',
      method: 'PATCH',
      path: () => `/conditions/${f.condition.id}`,
      body: {},
    },
    {
      route: 'DELETE /conditions/{id}',
      method: 'DELETE',
      path: () => `/conditions/${f.condition.id}`,
    },
  ]
  const values = [
    'garbage',
    '"abc"',
    '"-1"',
    '"1.5"',
    '*',
    'W/"x"',
    '"99999999999999999999"',
    '""',
    '"1", "2"',
    "' OR '1'='1",
  ]
  const cases: BadRequest[] = []
  for (const write of writes) {
    const base = {
      route: write.route,
      method: write.method,
      path: write.path(),
      body: write.body === undefined ? undefined : JSON.stringify(write.body),
    }
    for (const value of values) {
      cases.push({
        ...base,
        name: `${write.route}: If-Match ${value}`,
        headers: { 'If-Match': value },
        status: 400,
        code: 'VALIDATION_FAILED',
        errorPath: 'If-Match',
      })
    }
    cases.push(
      { ...base, name: `${write.route}: no If-Match`, status: 428, code: 'IF_MATCH_REQUIRED' },
      {
        ...base,
        name: `${write.route}: stale If-Match`,
        headers: { 'If-Match': STALE },
        status: 412,
        code: 'VERSION_MISMATCH',
      },
    )
  }
  return cases
}

/** Builds cases of bodies on routes that take none, and of paths that no route serves. */
function routeShapeCases(f: Fixtures): BadRequest[] {
  const body = JSON.stringify({ reason: 'sent by mistake' })
  const noBody = (route: string, method: string, path: string): BadRequest => ({
    route,
    name: `${route}: a body it does not take`,
    method,
    path,
    body,
    headers: { 'If-Match': STALE },
    status: 400,
    code: 'MALFORMED_REQUEST',
  })
  const missing = (method: string, path: string): BadRequest => ({
    route: `${method} ${path}`,
    name: `${method} ${path}: no such route`,
    method,
    path,
    status: 404,
    code: 'ROUTE_NOT_FOUND',
  })
  return [
    noBody('DELETE /patients/{id}', 'DELETE', `/patients/${f.patient.id}`),
    noBody('DELETE /conditions/{id}', 'DELETE', `/conditions/${f.condition.id}`),
    noBody(
      'POST /sync/failed/{entityType}/{id}/replay',
      'POST',
      `/sync/failed/patient/${UNKNOWN_ID}/replay`,
    ),
    noBody('POST /sync/subscriptions', 'POST', '/sync/subscriptions'),
    missing('PUT', '/patients'),
    missing('DELETE', '/conflicts'),
    missing('GET', '/patients/1/2'),
    missing('GET', `/${encodeURIComponent(INJECTIONS[1] ?? '')}`),
  ]
}

/** Builds a JSON text of `depth` nested arrays around one string. */
function nestedArrays(depth: number): string {
  return `${'['.repeat(depth)}"x"${']'.repeat(depth)}`
}

/**
 * Builds cases of JSON that parses but cannot be stored: a lone UTF-16 surrogate (jsonb rejects
 * it) and nesting deep enough to overflow JSON.stringify, on every body route and the receiver,
 * and query parameters on routes that take none.
 */
function storageCases(f: Fixtures): BadRequest[] {
  const cases: BadRequest[] = []
  for (const route of bodyRoutes(f)) {
    const base = JSON.stringify(route.valid)
    const withMember = (member: string) =>
      base === '{}' ? `{${member}}` : `{${member},${base.slice(1)}`
    for (const [name, member] of [
      ['a lone surrogate in a string', '"note":"a\\ud800b"'],
      ['nesting 5,000 levels deep', `"note":${nestedArrays(5_000)}`],
    ] as const) {
      cases.push({
        route: route.route,
        name: `${route.route}: ${name}`,
        method: route.method,
        path: route.path,
        body: withMember(member),
        headers: route.headers,
        status: 400,
        code: 'VALIDATION_FAILED',
      })
    }
  }
  cases.push({
    route: 'POST /patients',
    name: 'POST /patients: a lone surrogate in a family name',
    method: 'POST',
    path: '/patients',
    body: '{"names":[{"family":"a\\ud800b"}],"gender":"male"}',
    status: 400,
    code: 'VALIDATION_FAILED',
    errorPath: 'names.0.family',
  })
  const hook = {
    route: 'PUT /fhir-hook/{type}/{id}',
    method: 'PUT',
    path: '/fhir-hook/Patient/bad-input-2',
    contentType: 'application/fhir+json',
    auth: 'secret' as const,
    status: 400,
    code: 'VALIDATION_FAILED',
  }
  cases.push(
    {
      ...hook,
      name: 'receiver PUT: a lone surrogate in a name',
      body: '{"resourceType":"Patient","id":"bad-input-2","name":[{"family":"a\\udc00"}]}',
    },
    {
      ...hook,
      name: 'receiver PUT: nesting 100,000 levels deep',
      body: `{"resourceType":"Patient","id":"bad-input-2","extension":${nestedArrays(100_000)}}`,
    },
  )
  for (const [route, path, auth] of [
    ['GET /sync/status', '/sync/status?verbose=1', 'operator'],
    ['GET /auth/me', '/auth/me?user=someone', 'operator'],
    ['GET /health/live', '/health/live?probe=1', 'none'],
  ] as const) {
    cases.push({
      route,
      name: `${route}: a query parameter it does not take`,
      method: 'GET',
      path,
      auth,
      status: 400,
      code: 'VALIDATION_FAILED',
    })
  }
  return cases
}

/** Builds cases of bad FHIR payloads and paths at the receiver, with and without the secret. */
function receiverCases(): BadRequest[] {
  const id = 'bad-input-1'
  const put = (name: string, body: string | undefined, expected: Partial<BadRequest> = {}) => ({
    route: 'PUT /fhir-hook/{type}/{id}',
    name: `receiver PUT: ${name}`,
    method: 'PUT',
    path: `/fhir-hook/Patient/${id}`,
    body,
    contentType: 'application/fhir+json',
    status: 400,
    code: 'VALIDATION_FAILED',
    ...expected,
  })
  const post = (name: string, body: unknown, expected: Partial<BadRequest> = {}) => ({
    route: 'POST /fhir-hook',
    name: `receiver POST: ${name}`,
    method: 'POST',
    path: '/fhir-hook',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    contentType: 'application/fhir+json',
    status: 400,
    code: 'VALIDATION_FAILED',
    ...expected,
  })

  const patientBody = JSON.stringify({ resourceType: 'Patient', id })
  const bundle = (entry: unknown) => ({ resourceType: 'Bundle', type: 'history', entry })
  const payloads: BadRequest[] = [
    put('body of another type', JSON.stringify({ resourceType: 'Condition', id }), {
      errorPath: 'resourceType',
    }),
    put('body id other than the path', JSON.stringify({ resourceType: 'Patient', id: 'other' }), {
      errorPath: 'id',
    }),
    put('body without an id', JSON.stringify({ resourceType: 'Patient' }), { errorPath: 'id' }),
    put('body without resourceType', JSON.stringify({ id }), { errorPath: 'resourceType' }),
    put('resourceType a number', JSON.stringify({ resourceType: 7, id }), {
      errorPath: 'resourceType',
    }),
    put('body a list', '[]', { errorPath: 'resourceType' }),
    put('body a string', '"Patient"', { errorPath: 'resourceType' }),
    put('body XML', '<Patient xmlns="http://hl7.org/fhir"/>', { code: 'MALFORMED_REQUEST' }),
    put('body not JSON', 'not json', { code: 'MALFORMED_REQUEST' }),
    put('body cut short', '{"resourceType": "Patient", "id":', { code: 'MALFORMED_REQUEST' }),
    put('injected resourceType', JSON.stringify({ resourceType: INJECTIONS[1], id }), {
      errorPath: 'resourceType',
    }),
    put('Content-Type text/plain', patientBody, {
      contentType: 'text/plain',
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    }),
    put('Content-Type XML', patientBody, {
      contentType: 'application/fhir+xml',
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    }),
    put('no Content-Type', patientBody, {
      contentType: null,
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    }),
    put('body over the size limit', oversizedBody(), { status: 413, code: 'PAYLOAD_TOO_LARGE' }),
    {
      ...put('chunked body over the size limit', undefined, {
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
      }),
      body: oversizedStream(),
    },
    post('a Patient, not a Bundle', patientBody, { errorPath: 'resourceType' }),
    post('Bundle entry a string', bundle('junk'), { errorPath: 'entry' }),
    post('Bundle entry of numbers', bundle([1, 2]), { errorPath: 'entry.0' }),
    post('Bundle entry empty', bundle([{}]), { errorPath: 'entry.0' }),
    post(
      'Bundle entry resource without an id',
      bundle([{ resource: { resourceType: 'Patient' } }]),
      { errorPath: 'entry.0' },
    ),
    post(
      'Bundle entry url of no resource',
      bundle([{ request: { method: 'PUT', url: '../../etc' } }]),
      { errorPath: 'entry.0' },
    ),
    post(
      'Bundle entry url absolute',
      bundle([{ request: { method: 'PUT', url: 'http://x.org/Patient/1' } }]),
      { errorPath: 'entry.0' },
    ),
    post('Bundle entry url a number', bundle([{ request: { method: 'PUT', url: 5 } }]), {
      errorPath: 'entry.0',
    }),
    post('Bundle entry resource not a resource', bundle([{ resource: 'Patient/1' }]), {
      errorPath: 'entry.0',
    }),
    post(
      'Bundle entry resource other than its url',
      bundle([
        {
          resource: { resourceType: 'Patient', id: 'a' },
          request: { method: 'PUT', url: 'Patient/b' },
        },
      ]),
      { errorPath: 'entry.0' },
    ),
    post(
      'Bundle entry id injected',
      bundle([{ request: { method: 'DELETE', url: `Patient/${INJECTIONS[1]}` } }]),
      { errorPath: 'entry.0' },
    ),
    post(
      'Bundle with a junk entry after a good one',
      bundle([
        {
          resource: { resourceType: 'Patient', id },
          request: { method: 'PUT', url: `Patient/${id}` },
        },
        { junk: true },
      ]),
      { errorPath: 'entry.1' },
    ),
    post('body not JSON', '{"resourceType": "Bundle", ', { code: 'MALFORMED_REQUEST' }),
    post('Content-Type form', 'a=1', {
      contentType: 'application/x-www-form-urlencoded',
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    }),
    {
      route: 'DELETE /fhir-hook/{type}/{id}',
      name: 'receiver DELETE: a body it does not take',
      method: 'DELETE',
      path: `/fhir-hook/Patient/${id}`,
      body: patientBody,
      contentType: 'application/fhir+json',
      status: 400,
      code: 'MALFORMED_REQUEST',
    },
  ]

  const badPaths: [string, string][] = [
    ['type in lower case', `/fhir-hook/patient/${id}`],
    ['type of digits', `/fhir-hook/123/${id}`],
    ['type injected', `/fhir-hook/${encodeURIComponent(INJECTIONS[0] ?? '')}/${id}`],
    ['id too long', `/fhir-hook/Patient/${'x'.repeat(65)}`],
    ['id with a space', '/fhir-hook/Patient/a%20b'],
    ['id injected', `/fhir-hook/Patient/${encodeURIComponent(INJECTIONS[1] ?? '')}`],
    ['id with NUL', '/fhir-hook/Patient/a%00b'],
  ]
  for (const [name, path] of badPaths) {
    for (const method of ['PUT', 'DELETE']) {
      payloads.push({
        route: `${method} /fhir-hook/{type}/{id}`,
        name: `receiver ${method}: ${name}`,
        method,
        path,
        body: method === 'PUT' ? patientBody : undefined,
        contentType: 'application/fhir+json',
        status: 400,
        code: 'VALIDATION_FAILED',
      })
    }
  }

  const withSecret = payloads.map((request) => ({ ...request, auth: 'secret' as const }))
  // Without the secret every one of them gets 401, before its path or body is looked at, except
  // an oversized body, which is cut off first.
  const withoutSecret = payloads.flatMap((request) =>
    (['none', 'wrong-secret'] as const).map((auth) => ({
      ...request,
      name: `${request.name}, ${auth === 'none' ? 'no secret' : 'wrong secret'}`,
      auth,
      ...(request.status === 413
        ? {}
        : { status: 401, code: 'UNAUTHORIZED', errorPath: undefined }),
    })),
  )

  const missingRoutes: BadRequest[] = [
    {
      route: 'GET /fhir-hook/{type}/{id}',
      name: 'receiver GET: no such route',
      method: 'GET',
      path: `/fhir-hook/Patient/${id}`,
      auth: 'secret',
      status: 404,
      code: 'ROUTE_NOT_FOUND',
    },
    {
      route: 'PUT /fhir-hook',
      name: 'receiver PUT without a resource: no such route',
      method: 'PUT',
      path: '/fhir-hook',
      body: patientBody,
      contentType: 'application/fhir+json',
      auth: 'secret',
      status: 404,
      code: 'ROUTE_NOT_FOUND',
    },
  ]
  return [...withSecret, ...withoutSecret, ...missingRoutes]
}

/** Builds every malformed request of the test. */
export function buildBadRequests(fixtures: Fixtures): BadRequest[] {
  return [
    ...bodyFormatCases(fixtures),
    ...patientFieldCases(fixtures),
    ...conditionFieldCases(fixtures),
    ...conflictAndSyncCases(fixtures),
    ...injectionBodyCases(fixtures),
    ...queryCases(fixtures),
    ...pathIdCases(),
    ...ifMatchCases(fixtures),
    ...routeShapeCases(fixtures),
    ...storageCases(fixtures),
    ...receiverCases(),
  ]
}
