import { z } from '@hono/zod-openapi'
import type { AuditLogTable, AuditSource } from '../platform/db.ts'
import { pageQuerySchema } from '../platform/schemas.ts'
import { AUDIT_ACTIONS } from './audit.repository.ts'

export const AUDIT_SOURCES = [
  'user',
  'fhir-merge',
  'steward',
  'drift',
] as const satisfies readonly AuditSource[]

/** Registry users are audited too, when an admin creates or changes them. */
export const AUDIT_ENTITY_TYPES = [
  'patient',
  'condition',
  'user',
] as const satisfies readonly AuditLogTable['entity_type'][]

/**
 * An audit id, a bigserial value. Ids of up to 18 digits stay below the bigint maximum, so a
 * longer one is rejected with 400 before Postgres could fail the query with a 500.
 */
const AUDIT_ID = /^[1-9]\d{0,17}$/

export const auditLogEntrySchema = z
  .object({
    id: z.string().openapi({
      description: 'Position in the log. Later inserts get larger ids.',
      example: '1042',
    }),
    occurredAt: z.iso.datetime(),
    actor: z.string().openapi({
      description:
        "Who made the change: the caller's id for API writes and steward decisions, `fhir-merge` for changes from FHIR, `drift` for drift repairs",
      example: 'fhir-merge',
    }),
    source: z.enum(AUDIT_SOURCES).openapi({
      description:
        '`user`: an API write; `fhir-merge`: a change merged from FHIR; `steward`: a conflict decision; `drift`: a drift repair',
    }),
    action: z.enum(AUDIT_ACTIONS).openapi({
      description:
        '`revert`: the merge put back a registry-owned field that FHIR changed; `resolve` and `dismiss`: steward decisions',
    }),
    entityType: z.enum(AUDIT_ENTITY_TYPES),
    entityId: z.uuid(),
    before: z.unknown().openapi({
      description:
        "The entity's fields before the change, or the changed part for `revert`; null for a create",
    }),
    after: z.unknown().openapi({
      description:
        "The entity's fields after the change, or the changed part for `revert`; null for a delete",
    }),
    requestId: z.string().nullable().openapi({
      description:
        'X-Request-ID of the API request; for a merge, the id of its pg-boss job; for a drift repair, the id of its drift run',
      example: '0b5e3c1e-6f4d-4a1b-9e55-0c2f7c9d1a10',
    }),
    conflictId: z.uuid().nullable().openapi({
      description: 'The conflict that a steward decision settled, or null for other changes',
      example: null,
    }),
  })
  .openapi('AuditLogEntry')

export type AuditLogEntry = z.infer<typeof auditLogEntrySchema>

export const auditPageSchema = z.object({
  items: z.array(auditLogEntrySchema),
  nextCursor: z.string().nullable(),
})

export type AuditPage = z.infer<typeof auditPageSchema>

export const auditListQuerySchema = z
  .strictObject({
    entityType: z.enum(AUDIT_ENTITY_TYPES).optional(),
    entityId: z.uuid().optional(),
    actor: z.string().min(1).max(200).optional().openapi({ example: 'fhir-merge' }),
    source: z.enum(AUDIT_SOURCES).optional(),
    action: z.enum(AUDIT_ACTIONS).optional(),
    occurredFrom: z.iso.datetime({ offset: true }).optional().openapi({
      description: 'Changes at or after this time',
      example: '2026-01-01T00:00:00Z',
    }),
    occurredTo: z.iso.datetime({ offset: true }).optional().openapi({
      description: 'Changes before this time',
      example: '2026-02-01T00:00:00Z',
    }),
  })
  .extend(pageQuerySchema.shape)

export type AuditListQuery = z.infer<typeof auditListQuerySchema>

export const auditIdParamSchema = z.object({
  id: z
    .string()
    .regex(AUDIT_ID, { error: 'Expected an audit entry id, a positive integer' })
    .openapi({ param: { name: 'id', in: 'path' }, example: '1042' }),
})
