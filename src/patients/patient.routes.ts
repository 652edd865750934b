import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { changeContextOf } from '../audit/change-context.ts'
import { securedRoute } from '../auth/access.ts'
import type { AppEnv } from '../platform/http.ts'
import {
  ERROR_RESPONSES,
  WRITE_ERROR_RESPONSES,
  idParamSchema,
  jsonContent,
  ifMatchHeaderSchema,
  pageQuerySchema,
  problemSchema,
  expectedVersionOf,
} from '../platform/schemas.ts'
import {
  createPatientSchema,
  patchPatientSchema,
  patientFhirViewSchema,
  patientListQuerySchema,
  patientSchema,
} from './patient.schemas.ts'
import type { PatientService } from './patient.service.ts'

const TAG = 'Patients'

const createPatientRoute = securedRoute(['clinician'], {
  method: 'post',
  path: '/patients',
  operationId: 'createPatient',
  tags: [TAG],
  summary: 'Create a patient; it is pushed to FHIR in the background',
  request: { body: { content: jsonContent(createPatientSchema), required: true } },
  responses: {
    201: { description: 'Created', content: jsonContent(patientSchema) },
    400: ERROR_RESPONSES[400],
  },
})

const getPatientRoute = securedRoute(['clinician', 'steward'], {
  method: 'get',
  path: '/patients/{id}',
  operationId: 'getPatient',
  tags: [TAG],
  summary: 'Read a patient; the ETag is its version',
  request: { params: idParamSchema },
  responses: {
    200: { description: 'The patient', content: jsonContent(patientSchema) },
    400: ERROR_RESPONSES[400],
    404: ERROR_RESPONSES[404],
  },
})

const getPatientFhirViewRoute = securedRoute(['clinician', 'steward'], {
  method: 'get',
  path: '/patients/{id}/fhir',
  operationId: 'getPatientFhirView',
  tags: [TAG],
  summary: "Read the patient's current FHIR Patient from HAPI, with its mapped fields",
  description:
    '404 `NOT_IN_FHIR` when the patient has not been written to FHIR yet, 404 `FHIR_RESOURCE_GONE` when HAPI has no such Patient or deleted it, 502 `FHIR_UNAVAILABLE` when HAPI cannot be reached or fails.',
  request: { params: idParamSchema },
  responses: {
    200: {
      description: 'The current FHIR Patient and its mapped fields',
      content: jsonContent(patientFhirViewSchema),
    },
    400: ERROR_RESPONSES[400],
    404: ERROR_RESPONSES[404],
    502: {
      description: 'The FHIR server could not be reached or failed',
      content: { 'application/problem+json': { schema: problemSchema } },
    },
  },
})

const listPatientsRoute = securedRoute(['clinician', 'steward'], {
  method: 'get',
  path: '/patients',
  operationId: 'listPatients',
  tags: [TAG],
  summary: 'List patients, filtered by name, identifier or birth date, in pages',
  request: { query: patientListQuerySchema.extend(pageQuerySchema.shape) },
  responses: {
    200: {
      description: 'One page of patients',
      content: jsonContent(
        z.object({ items: z.array(patientSchema), nextCursor: z.string().nullable() }),
      ),
    },
    400: ERROR_RESPONSES[400],
  },
})

const replacePatientRoute = securedRoute(['clinician'], {
  method: 'put',
  path: '/patients/{id}',
  operationId: 'replacePatient',
  tags: [TAG],
  summary: 'Replace every field of a patient; needs If-Match',
  request: {
    params: idParamSchema,
    headers: ifMatchHeaderSchema,
    body: { content: jsonContent(createPatientSchema), required: true },
  },
  responses: {
    200: { description: 'The updated patient', content: jsonContent(patientSchema) },
    ...WRITE_ERROR_RESPONSES,
  },
})

const patchPatientRoute = securedRoute(['clinician'], {
  method: 'patch',
  path: '/patients/{id}',
  operationId: 'patchPatient',
  tags: [TAG],
  summary: 'Replace some fields of a patient; needs If-Match',
  request: {
    params: idParamSchema,
    headers: ifMatchHeaderSchema,
    body: { content: jsonContent(patchPatientSchema), required: true },
  },
  responses: {
    200: { description: 'The updated patient', content: jsonContent(patientSchema) },
    ...WRITE_ERROR_RESPONSES,
  },
})

const deletePatientRoute = securedRoute(['clinician'], {
  method: 'delete',
  path: '/patients/{id}',
  operationId: 'deletePatient',
  tags: [TAG],
  summary: 'Delete a patient and its conditions, here and in FHIR',
  request: { params: idParamSchema, headers: ifMatchHeaderSchema },
  responses: {
    204: { description: 'Deleted' },
    ...WRITE_ERROR_RESPONSES,
  },
})

export function registerPatientRoutes(app: OpenAPIHono<AppEnv>, service: PatientService): void {
  app.openapi(createPatientRoute, async (c) => {
    const patient = await service.create(c.req.valid('json'), changeContextOf(c))
    c.header('ETag', `"${patient.version}"`)
    c.header('Location', `/patients/${patient.id}`)
    return c.json(patient, 201)
  })

  app.openapi(getPatientRoute, async (c) => {
    const patient = await service.get(c.req.valid('param').id)
    c.header('ETag', `"${patient.version}"`)
    return c.json(patient, 200)
  })

  app.openapi(getPatientFhirViewRoute, async (c) => {
    const view = await service.getFhirView(c.req.valid('param').id, c.get('logger'))
    return c.json(view, 200)
  })

  app.openapi(listPatientsRoute, async (c) => {
    const query = c.req.valid('query')
    const page = await service.list({ ...query, birthDatePrefix: query.birthDate })
    return c.json(page, 200)
  })

  app.openapi(replacePatientRoute, async (c) => {
    const expected = expectedVersionOf(c.req.valid('header')['if-match'])
    const patient = await service.update(
      c.req.valid('param').id,
      c.req.valid('json'),
      expected,
      changeContextOf(c),
    )
    c.header('ETag', `"${patient.version}"`)
    return c.json(patient, 200)
  })

  app.openapi(patchPatientRoute, async (c) => {
    const expected = expectedVersionOf(c.req.valid('header')['if-match'])
    const patient = await service.update(
      c.req.valid('param').id,
      c.req.valid('json'),
      expected,
      changeContextOf(c),
    )
    c.header('ETag', `"${patient.version}"`)
    return c.json(patient, 200)
  })

  app.openapi(deletePatientRoute, async (c) => {
    const expected = expectedVersionOf(c.req.valid('header')['if-match'])
    await service.delete(c.req.valid('param').id, expected, changeContextOf(c))
    return c.body(null, 204)
  })
}
