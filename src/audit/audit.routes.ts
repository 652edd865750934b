import type { OpenAPIHono } from '@hono/zod-openapi'
import { securedRoute } from '../auth/access.ts'
import type { AppEnv } from '../platform/http.ts'
import { ERROR_RESPONSES, jsonContent } from '../platform/schemas.ts'
import {
  auditIdParamSchema,
  auditListQuerySchema,
  auditLogEntrySchema,
  auditPageSchema,
} from './audit.schemas.ts'
import type { AuditService } from './audit.service.ts'

const TAG = 'Audit'

const listAuditRoute = securedRoute(['auditor'], {
  method: 'get',
  path: '/audit',
  operationId: 'listAuditEntries',
  tags: [TAG],
  summary: 'List audit log entries newest first (occurrence time, then id), in pages',
  description:
    'Every change to a patient or condition, from any source. Filters combine with AND; ' +
    '`occurredFrom` is inclusive and `occurredTo` exclusive. Pass `nextCursor` as `cursor` ' +
    'for the next, older page, keeping the same filters.',
  request: { query: auditListQuerySchema },
  responses: {
    200: { description: 'One page of audit log entries', content: jsonContent(auditPageSchema) },
    400: ERROR_RESPONSES[400],
  },
})

const getAuditRoute = securedRoute(['auditor'], {
  method: 'get',
  path: '/audit/{id}',
  operationId: 'getAuditEntry',
  tags: [TAG],
  summary: 'Read one audit log entry',
  request: { params: auditIdParamSchema },
  responses: {
    200: { description: 'The audit log entry', content: jsonContent(auditLogEntrySchema) },
    400: ERROR_RESPONSES[400],
    404: ERROR_RESPONSES[404],
  },
})

export function registerAuditRoutes(app: OpenAPIHono<AppEnv>, service: AuditService): void {
  app.openapi(listAuditRoute, async (c) => {
    return c.json(await service.list(c.req.valid('query')), 200)
  })

  app.openapi(getAuditRoute, async (c) => {
    return c.json(await service.get(c.req.valid('param').id), 200)
  })
}
